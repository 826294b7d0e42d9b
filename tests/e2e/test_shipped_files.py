"""The files in systemd/ and examples/ work as written, against the test bed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf, missing_part

ROOT = Path(__file__).resolve().parents[2]


def installed_acmecf() -> Path:
    """The `acmecf` script of the environment running the tests, never one found on PATH.

    On a fresh machine the virtualenv is not activated (make runs .venv/bin/python), so PATH
    has no acmecf, or an unrelated one.
    """
    # Not resolved: .venv/bin/python is a symlink to the base interpreter.
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        script = directory / "acmecf"
        if script.is_file() and os.access(script, os.X_OK):
            return script
    raise AssertionError(
        f"no acmecf script beside {sys.executable}: install acmecf into this environment "
        "(make test does: pip install -e '.[test]')"
    )


def fake_commands(directory: Path, log: Path, nginx_test_ok: bool) -> dict[str, str]:
    """nginx, systemctl, sudo and ssh stand-ins that log what they were asked to do."""
    directory.mkdir(parents=True, exist_ok=True)
    scripts = {
        "nginx": f'echo "nginx $*" >> {log}\n'
        + ("exit 0\n" if nginx_test_ok else 'echo "nginx: [emerg] bad directive" >&2; exit 1\n'),
        "systemctl": f'echo "systemctl $*" >> {log}\n',
        "sudo": '"$@"\n',
        # ssh HOST... COMMAND: run the remote command here, as the far side would.
        "ssh": f'for last; do :; done\necho "ssh to a host" >> {log}\nsh -c "$last"\n',
    }
    for name, body in scripts.items():
        path = directory / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}


# The drop-in the README gives for an acmecf installed outside systemd's search path.
DROP_IN = "[Service]\nExecStart=\nExecStart={path} renew\n"


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        missing_part("systemd-analyze is not installed (it comes with systemd)")
    acmecf_path = str(installed_acmecf())
    units = tmp_path / "units"
    units.mkdir()
    for name in ("acmecf-renew.service", "acmecf-renew.timer"):
        shutil.copy(ROOT / "systemd" / name, units / name)  # as written
    service = (units / "acmecf-renew.service").read_text()
    assert re.search(r"^ExecStart=acmecf renew$", service, re.M), "found by systemd, by name"
    assert re.search(r"^LogsDirectory=acmecf$", service, re.M)
    in_search_path = any(
        Path(directory, "acmecf").exists()
        for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin")
    )
    if not in_search_path:  # this checkout's acmecf lives in a virtualenv: the README's drop-in
        (units / "acmecf-renew.service.d").mkdir()
        (units / "acmecf-renew.service.d" / "path.conf").write_text(
            DROP_IN.format(path=acmecf_path)
        )
    result = subprocess.run(
        ["systemd-analyze", "verify", "acmecf-renew.service", "acmecf-renew.timer"],
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "acmecf-renew" not in result.stderr, result.stderr
    readme = (ROOT / "README.md").read_text()
    assert DROP_IN.format(path="/opt/acmecf/bin/acmecf") in readme, "the README's drop-in"


def test_the_service_runs_renew_with_the_token_as_a_systemd_credential(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    service = (ROOT / "systemd" / "acmecf-renew.service").read_text()
    assert re.search(r"^ExecStart=\S+ renew$", service, re.M)
    assert "LoadCredential=cloudflare-api-token:" in service
    assert acmecf.issue("unit.example.com").code == 0
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "cloudflare-api-token").write_text(
        sandbox.client_environment()["CLOUDFLARE_API_TOKEN"]
    )
    result = acmecf(
        "renew", "--force", CLOUDFLARE_API_TOKEN=None, CREDENTIALS_DIRECTORY=str(credentials)
    )
    assert result.code == 0, result.output
    assert "renewed unit.example.com" in result.stdout


def test_the_cron_line_runs_and_is_silent_when_nothing_is_due(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert acmecf.issue("cron.example.com").code == 0
    line = next(
        entry
        for entry in (ROOT / "examples" / "cron").read_text().splitlines()
        if entry and not entry.startswith("#") and "=" not in entry.split()[0]
    )
    command = line.split(" root ", 1)[1]
    env_file = tmp_path / "cloudflare.env"
    env_file.write_text(
        f"CLOUDFLARE_API_TOKEN={sandbox.client_environment()['CLOUDFLARE_API_TOKEN']}\n"
    )
    command = command.replace("/etc/acmecf/cloudflare.env", str(env_file))
    # cron's PATH finds acmecf where pip put it; here, that is beside the running interpreter.
    path = f"{installed_acmecf().parent}:{os.environ['PATH']}"
    result = subprocess.run(
        ["sh", "-c", command],
        env=acmecf.environment(CLOUDFLARE_API_TOKEN=None, PATH=path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("nginx_test_ok", [True, False])
def test_the_reload_nginx_hook_reloads_only_a_clean_configuration(
    acmecf: Acmecf, tmp_path: Path, nginx_test_ok: bool
) -> None:
    log = tmp_path / "commands.log"
    path = fake_commands(tmp_path / "bin", log, nginx_test_ok)
    result = acmecf.issue(
        "nginx.example.com",
        extra=("--deploy-hook", str(ROOT / "examples" / "hooks" / "reload-nginx")),
        **path,
    )
    if nginx_test_ok:
        assert result.code == 0, result.output
        assert log.read_text() == "nginx -t\nsystemctl reload nginx\n"
        assert "reloaded nginx for nginx.example.com" in result.stderr, "hook output: stderr"
    else:
        assert result.code == 1
        assert log.read_text() == "nginx -t\n"
        assert "nginx: [emerg] bad directive" in result.stderr
        assert "nginx.example.com is live, but deploy hook" in result.stderr


def test_the_copy_hook_delivers_key_and_chain_and_reloads_the_far_side(
    acmecf: Acmecf, tmp_path: Path
) -> None:
    log = tmp_path / "commands.log"
    destination = tmp_path / "far-side" / "tls"
    env = fake_commands(tmp_path / "bin", log, nginx_test_ok=True)
    env.update(
        COPY_REMOTE="deploy@backend.test",
        COPY_DEST_DIR=str(destination),
        COPY_SSH_OPTIONS="-o BatchMode=yes",
    )
    result = acmecf.issue(
        "copy.example.com",
        extra=("--deploy-hook", str(ROOT / "examples" / "hooks" / "copy-to-host")),
        **env,
    )
    assert result.code == 0, result.output
    live = acmecf.live("copy.example.com")
    assert (destination / "fullchain.pem").read_bytes() == (live / "fullchain.pem").read_bytes()
    assert (destination / "privkey.pem").read_bytes() == (live / "privkey.pem").read_bytes()
    assert (destination / "privkey.pem").stat().st_mode & 0o077 == 0
    assert log.read_text() == "ssh to a host\nnginx -t\nsystemctl reload nginx\n"


def test_the_notification_hooks_report_a_failed_issuance(acmecf: Acmecf, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mail = tmp_path / "mail.txt"
    posted = tmp_path / "posted.txt"
    (bin_dir / "sendmail").write_text(f"#!/bin/sh\ncat > {mail}\n")
    (bin_dir / "curl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {posted}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    url_file = tmp_path / "webhook-url"
    url_file.write_text("https://hooks.example.test/T000/B000\n")
    hooks = ROOT / "examples" / "hooks"
    result = acmecf.issue(
        "alert.example.com",
        "www.blocked.test",
        extra=(
            "--failure-hook",
            str(hooks / "notify-mail"),
            "--failure-hook",
            str(hooks / "notify-webhook"),
        ),
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        NOTIFY_MAIL_TO="oncall@example.com",
        NOTIFY_WEBHOOK_URL_FILE=str(url_file),
    )
    assert result.code == 1
    message = mail.read_text()
    assert "To: oncall@example.com" in message
    assert "Subject: [acmecf] renewal of alert.example.com failed" in message
    assert "Error:       the CA refused creating the order" in message
    arguments = posted.read_text().splitlines()
    assert arguments[-1] == "https://hooks.example.test/T000/B000"
    body = json.loads(arguments[arguments.index("--data") + 1])
    assert body["text"].startswith(
        "acmecf: renewal of alert.example.com (alert.example.com www.blocked.test) failed"
    )
