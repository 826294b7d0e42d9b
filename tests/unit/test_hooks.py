from __future__ import annotations

from pathlib import Path

import pytest

from acmecf.errors import HookError
from acmecf.lifecycle.hooks import Hook, certificate_environment, deploy_hooks, run_hook
from acmecf.storage.files import HookFile


def test_certificate_data_reaches_the_hook_only_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    # A name crafted as shell syntax stays data: it is never spliced into the command.
    variables = certificate_environment("x; touch pwned", ["$(touch pwned)"], tmp_path)
    monkeypatch.chdir(tmp_path)
    run_hook(
        Hook(f'printf "%s|%s" "$ACMECF_CERT_NAME" "$ACMECF_DOMAINS" > {out}', True),
        variables,
        what="deploy hook",
    )
    assert out.read_text() == "x; touch pwned|$(touch pwned)"
    assert not (tmp_path / "pwned").exists()


def test_credentials_and_acmecf_settings_are_not_passed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "secret-token")
    monkeypatch.setenv("ACMECF_SERVER", "https://acme.example/dir")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/acmecf-renew.service")
    monkeypatch.setenv("UNRELATED", "kept")
    out = tmp_path / "env"
    run_hook(Hook(f"env > {out}", True), {"ACMECF_CERT_NAME": "a"}, what="deploy hook")
    text = out.read_text()
    assert "secret-token" not in text and "ACMECF_SERVER" not in text
    assert "CREDENTIALS_DIRECTORY" not in text
    assert "UNRELATED=kept" in text and "ACMECF_CERT_NAME=a" in text


def test_a_failing_hook_reports_status_and_stderr_tail() -> None:
    with pytest.raises(HookError, match=r"exit status 4: line one \| line two"):
        run_hook(
            Hook("echo 'line one' >&2; echo 'line two' >&2; exit 4", True), {}, what="deploy hook"
        )


def test_a_hanging_hook_and_its_children_are_stopped() -> None:
    with pytest.raises(HookError, match="did not finish within 0s"):
        run_hook(Hook("sleep 30 & sleep 30; wait", True), {}, what="deploy hook", timeout=0.3)


def test_deploy_hooks_are_the_stored_commands_then_the_directory_s_files() -> None:
    files = [HookFile(Path("/h/10-a"), None), HookFile(Path("/h/20-b"), "not executable")]
    hooks = deploy_hooks(["systemctl reload nginx"], files)
    assert [h.command for h in hooks] == ["systemctl reload nginx", "/h/10-a", "/h/20-b"]
    assert [h.shell for h in hooks] == [True, False, False]
    assert [h.refused for h in hooks] == [None, None, "not executable"]


def test_a_refused_hook_file_is_reported_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hook = Hook(f"touch {marker}", shell=True, refused="it is writable by others")
    with pytest.raises(HookError, match="was not run: it is writable by others"):
        run_hook(hook, {}, what="deploy hook")
    assert not marker.exists()


def test_a_hook_that_leaves_a_background_child_does_not_hold_the_run() -> None:
    import time

    started = time.monotonic()
    run_hook(
        Hook("sleep 30 >/dev/null 2>&1 & sleep 30 & echo done >&2", True),
        {},
        what="hook",
        timeout=20,
    )
    assert time.monotonic() - started < 5
