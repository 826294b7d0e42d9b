"""Hostile or careless input, through the real command: each ends with one line that says what
is wrong and what to do, the right exit code, no traceback, and nothing changed."""

from __future__ import annotations

import http.server
import os
import pty
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, Result, challenge_records


def assert_one_line(result: Result, code: int, *fragments: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.code == code, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("acmecf: error: "), lines[0]
    assert "Traceback" not in result.output and "unexpected error" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00\x01garbage")
    (tmp_path / "binary").chmod(0o600)
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (tmp_path / "empty.ini").write_text("# nothing\n")
    (tmp_path / "empty.ini").chmod(0o600)
    (tmp_path / "open.ini").write_text("dns_cloudflare_api_token = abc\n")
    (tmp_path / "open.ini").chmod(0o644)
    (tmp_path / "batch").write_text("a.example.com\nb..example.com\n")
    return tmp_path


CASES = [
    (["issue"], 2, "no names given"),
    (["issue", "-d", "a..b"], 2, "invalid name 'a..b'"),
    (["issue", "-d", "*.*.example.com"], 2, "wildcard must be the whole leftmost label"),
    (["issue", "-d", "x.example.com", "--cert-name", "../x"], 2, "'--cert-name'"),
    (["issue", "-d", "x.example.com", "--cert-name", "x\n"], 2, "'--cert-name'"),
    (["list", "--config-dir", ""], 2, "invalid --config-dir ''"),
    (["issue", "--batch", "{tmp}/binary"], 2, "is not a text file"),
    (["issue", "--batch", "{tmp}/batch"], 2, "line 2: invalid name"),
    (["issue", "-d", "x.example.com", "--ca-bundle", "{tmp}/garbage.pem"], 2, "cannot be read"),
    (["issue", "-d", "x.example.com", "--ca-bundle", "{tmp}/binary"], 2, "holds no PEM"),
    (["issue", "-d", "x.example.com", "--server", "http://insecure.example"], 2, "https://"),
    (["issue", "-d", "x.example.com", "--zone-id", "xyz"], 2, "is not a zone id"),
    (["issue", "-d", "x.example.com", "--dns-resolver", "1.2.3.4:99999"], 2, "port out of range"),
    (["issue", "-d", "x.example.com", "--propagation-timeout", "soon"], 2, "is not a duration"),
    (["issue", "-d", "x.example.com", "--propagation-timeout", "inf"], 2, "duration"),
    (["issue", "-d", "x.example.com", "--deploy-hook", ""], 2, "not a one-line command"),
    (["renew", "--days", "nan"], 2, "--days nan"),
    (["renew", "--days", "inf"], 2, "--days inf"),
    (["renew", "--random-sleep", "-1"], 2, "'--random-sleep'"),
    (["revoke", "--cert-name", "../x"], 2, "'--cert-name'"),
    (["revoke", "--cert-name", "missing.example.com"], 2, "no certificate named"),
    (["delete", "--cert-name", "missing.example.com"], 2, "no certificate named"),
    (["account", "show"], 2, "no account at"),
    (["nginx-config", "x.example.com; include /etc/shadow"], 2, "invalid NAME"),
    (["apache-config", "x.example.com\n</VirtualHost>"], 2, "invalid NAME"),
    (["issue", "-d", "x.example.com", "--cloudflare-credentials", "{tmp}/binary"], 2, "not text"),
    (
        [
            "issue",
            "-d",
            "x.example.com",
            "--agree-tos",
            "--cloudflare-credentials",
            "{tmp}/empty.ini",
        ],
        2,
        "holds no dns_cloudflare_api_token",
    ),
    (
        ["issue", "-d", "x.example.com", "--cloudflare-credentials", "{tmp}/open.ini"],
        2,
        "chmod 600",
    ),
    (["issue", "-d", "x.example.com", "--frobnicate"], 2, "no such option"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), CASES)
def test_bad_input_is_one_line(
    acmecf: Acmecf, sandbox: Sandbox, files: Path, args: list[str], code: int, fragment: str
) -> None:
    argv = [a.replace("{tmp}", str(files)) for a in args]
    result = acmecf(*argv)
    assert_one_line(result, code, fragment)
    assert challenge_records(sandbox) == []
    assert not (acmecf.config_dir / "live").exists()


def test_a_token_with_a_line_break_is_refused_and_never_printed(acmecf: Acmecf) -> None:
    result = acmecf.issue("x.example.com", CLOUDFLARE_API_TOKEN="secret-part\nother-part")
    line = assert_one_line(result, 2, "line break")
    assert "secret-part" not in result.output and "other-part" not in line


def test_a_wrong_global_api_key_is_blamed_on_the_credentials(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    result = acmecf.issue(
        "x.example.com",
        CLOUDFLARE_API_TOKEN=None,
        CLOUDFLARE_EMAIL="ops@example.com",
        CLOUDFLARE_API_KEY="0" * 37,
    )
    assert_one_line(result, 1, "rejected the credentials")
    assert not (acmecf.config_dir / "accounts").exists(), "no account registered first"


def test_a_bad_token_costs_no_account_registration(acmecf: Acmecf) -> None:
    result = acmecf.issue("x.example.com", CLOUDFLARE_API_TOKEN="B" * 40)
    assert_one_line(result, 1, "rejected the credentials")
    assert not (acmecf.config_dir / "accounts").exists()


def test_an_unknown_zone_id_says_so_and_leaves_no_record(acmecf: Acmecf, sandbox: Sandbox) -> None:
    result = acmecf.issue("x.example.com", extra=("--zone-id", "0" * 32))
    line = assert_one_line(result, 1, "--zone-id")
    assert "removing" not in result.output.lower() or "TXT" not in line
    assert challenge_records(sandbox) == []


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/client/v4"
    finally:
        server.shutdown()
        server.server_close()


def test_html_at_the_api_address_is_one_line(acmecf: Acmecf, html_server: str) -> None:
    result = acmecf.issue("x.example.com", CLOUDFLARE_BASE_URL=html_server)
    assert_one_line(result, 1, "CLOUDFLARE_BASE_URL")


@pytest.fixture
def issued(acmecf: Acmecf) -> Acmecf:
    assert acmecf.issue("held.example.com").code == 0
    return acmecf


def test_a_dangling_live_link_is_explained(issued: Acmecf) -> None:
    version = (issued.live("held.example.com")).resolve()
    for path in version.iterdir():
        path.unlink()
    version.rmdir()
    result = issued("revoke", "--cert-name", "held.example.com")
    assert_one_line(result, 1, "points at a missing version", "renew --force")


def test_a_garbage_key_for_revocation_is_named(issued: Acmecf, files: Path) -> None:
    result = issued(
        "revoke", "--cert-name", "held.example.com", "--key-path", str(files / "garbage.pem")
    )
    assert_one_line(result, 1, "cannot read the certificate's key")


def test_a_garbage_account_key_is_named(issued: Acmecf) -> None:
    key = next((issued.config_dir / "accounts").rglob("key.pem"))
    key.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    result = issued("renew", "--force")
    assert result.code == 1
    assert "cannot read the stored account key" in result.stderr
    assert "Traceback" not in result.output


def test_revoke_without_an_account_suggests_the_key(issued: Acmecf) -> None:
    for path in sorted((issued.config_dir / "accounts").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    result = issued("revoke", "--cert-name", "held.example.com")
    assert_one_line(result, 2, "--key-path")


def test_injected_web_server_options_are_refused(issued: Acmecf) -> None:
    result = issued(
        "nginx-config", "held.example.com", "--proxy-pass", "http://x; include /etc/shadow"
    )
    assert_one_line(result, 2, "invalid --proxy-pass")


def test_a_failing_pre_hook_says_so(issued: Acmecf) -> None:
    result = issued("renew", "--force", "--pre-hook", "exit 3")
    assert result.code == 1
    assert (
        result.stderr.strip().splitlines()[-1] == "acmecf: error: the pre-hook failed (see above)"
    )


def _answer_prompt(acmecf: Acmecf, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run acmecf on a terminal (a pty) and type `answer` at its prompt."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        acmecf.command(*args),
        env=acmecf.environment(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    sent = False
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not sent and b"[y/N]" in output:
            os.write(main, answer)
            sent = True
    process.wait(timeout=30)
    os.close(main)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("answer", [b"n\n", b"\x04"], ids=["no", "ctrl-d"])
def test_a_prompt_answered_no_or_ctrl_d_changes_nothing(issued: Acmecf, answer: bytes) -> None:
    code, output = _answer_prompt(issued, ["delete", "--cert-name", "held.example.com"], answer)
    assert code == 1, output
    assert "acmecf: error: not confirmed: nothing was changed" in output
    assert "Traceback" not in output
    assert issued.live("held.example.com").joinpath("fullchain.pem").exists()


@pytest.mark.parametrize("command", [["--help"], ["--version"], ["list"], ["list", "--json"]])
def test_output_to_a_full_disk_is_one_line(issued: Acmecf, command: list[str]) -> None:
    """Standard output on a full disk (/dev/full): before a command runs (--help) and in it."""
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "acmecf", *command],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=issued.environment(),
            timeout=60,
            check=False,
        )
    result = Result(completed.returncode, "", completed.stderr)
    assert_one_line(result, 1, "could not write the output: No space left on device")
