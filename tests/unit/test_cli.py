"""The command line through click's CliRunner, without sockets: exit codes and one-line errors
for the mistakes a user makes before anything reaches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from acmecf.cli import cli


@pytest.fixture
def run(tmp_path: Path) -> object:
    runner = CliRunner()

    def invoke(*args: str, **env: str) -> tuple[int, str, str]:
        result = runner.invoke(
            cli, [*args], env={"ACMECF_CONFIG_DIR": str(tmp_path / "config"), **env}
        )
        return result.exit_code, result.stdout, result.stderr

    return invoke


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("acmecf: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_issue_without_names_is_a_usage_error(run: object) -> None:
    code, _, stderr = run("issue")  # type: ignore[operator]
    assert code == 2
    assert one_line(stderr) == "acmecf: error: no names given: pass -d NAME (or --batch FILE)"


def test_an_invalid_name_is_refused_before_anything_else(run: object) -> None:
    code, _, stderr = run("issue", "-d", "exa mple.com")  # type: ignore[operator]
    assert code == 2 and "invalid name 'exa mple.com'" in one_line(stderr)


def test_a_stored_setting_given_badly_names_its_flag(run: object) -> None:
    code, _, stderr = run("issue", "-d", "x.example.com", "--zone-id", "nope")  # type: ignore[operator]
    assert code == 2
    assert one_line(stderr) == (
        "acmecf: error: invalid --zone-id: 'nope' is not a zone id (32 hexadecimal digits)"
    )


def test_a_stored_setting_from_the_environment_is_checked_too(run: object) -> None:
    code, _, stderr = run(  # type: ignore[operator]
        "issue", "-d", "x.example.com", ACMECF_SERVER="http://plain.example/dir"
    )
    assert code == 2 and "https://" in one_line(stderr)


def test_eab_needs_both_halves(run: object) -> None:
    code, _, stderr = run("issue", "-d", "x.example.com", "--eab-kid", "kid")  # type: ignore[operator]
    assert code == 2 and "needs both --eab-kid and the HMAC key" in one_line(stderr)


def test_staging_and_another_server_conflict(run: object) -> None:
    code, _, stderr = run(  # type: ignore[operator]
        "issue", "-d", "x.example.com", "--staging", "--server", "https://ca.example/dir"
    )
    assert code == 2 and "name different servers" in one_line(stderr)


def test_renew_with_nothing_stored_is_silent_and_succeeds(run: object) -> None:
    assert run("renew") == (0, "", "")  # type: ignore[operator]


def test_list_of_an_empty_directory_says_so(run: object, tmp_path: Path) -> None:
    code, stdout, _ = run("list")  # type: ignore[operator]
    assert code == 0 and stdout == f"no certificates in {tmp_path / 'config'}\n"


def test_delete_without_a_terminal_needs_yes(run: object, tmp_path: Path) -> None:
    from acmecf.settings.table import CertificateSettings
    from acmecf.storage.files import FileStore
    from acmecf.storage.model import StoredCertificate

    FileStore(tmp_path / "config").save(
        StoredCertificate(CertificateSettings("x.example.com", ("x.example.com",)))
    )
    code, _, stderr = run("delete", "--cert-name", "x.example.com")  # type: ignore[operator]
    assert code == 2 and "pass --yes" in one_line(stderr)
    assert FileStore(tmp_path / "config").names() == ["x.example.com"]


def test_every_command_has_an_example_in_its_help(run: object) -> None:
    import click

    def commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += commands(command, [*prefix, name])
            else:
                found.append([*prefix, name])
        return found

    from acmecf.cli import load_all

    load_all()
    for path in commands(cli, []):
        if path[0] == "sandbox":
            continue
        code, stdout, _ = run(*path, "--help")  # type: ignore[operator]
        assert code == 0, path
        assert "Example" in stdout, f"`acmecf {' '.join(path)} --help` shows no example"


def test_the_overview_lists_every_command_with_its_own_short_help() -> None:
    import click

    from acmecf.cli import COMMANDS, load_all

    load_all()
    assert set(cli.commands) == set(COMMANDS)
    for name, command in cli.commands.items():
        assert isinstance(command, click.Command)
        assert COMMANDS[name][1] == command.get_short_help_str(10**6), name


def test_a_command_loads_only_its_own_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from acmecf.cli import cli\n"
        "cli.get_command(None, 'renew')\n"
        "print(sorted(m for m in sys.modules if m.startswith('acmecf.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)  # a list of module names
    assert "acmecf.cli.certificates" in loaded
    assert not {"acmecf.cli.accounts", "acmecf.cli.fleet", "acmecf.cli.origin"} & set(loaded)
