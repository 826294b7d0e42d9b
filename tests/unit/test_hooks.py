from __future__ import annotations

from pathlib import Path

import pytest

from acmecf.hooks import Hook, HookError, certificate_environment, deploy_hooks, run_hook


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
    monkeypatch.setenv("UNRELATED", "kept")
    out = tmp_path / "env"
    run_hook(Hook(f"env > {out}", True), {"ACMECF_CERT_NAME": "a"}, what="deploy hook")
    text = out.read_text()
    assert "secret-token" not in text and "ACMECF_SERVER" not in text
    assert "UNRELATED=kept" in text and "ACMECF_CERT_NAME=a" in text


def test_a_failing_hook_reports_status_and_stderr_tail() -> None:
    with pytest.raises(HookError, match=r"exit status 4: line one \| line two"):
        run_hook(
            Hook("echo 'line one' >&2; echo 'line two' >&2; exit 4", True), {}, what="deploy hook"
        )


def test_a_hanging_hook_and_its_children_are_stopped() -> None:
    with pytest.raises(HookError, match="did not finish within 0s"):
        run_hook(Hook("sleep 30 & sleep 30; wait", True), {}, what="deploy hook", timeout=0.3)


def test_deploy_hooks_are_the_stored_commands_then_executables_by_name(tmp_path: Path) -> None:
    for name, mode in (
        ("20-b", 0o755),
        ("10-a", 0o755),
        ("30-not-executable", 0o644),
        (".hidden", 0o755),
    ):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
    hooks = deploy_hooks(["systemctl reload nginx"], tmp_path)
    assert [h.command for h in hooks] == [
        "systemctl reload nginx",
        str(tmp_path / "10-a"),
        str(tmp_path / "20-b"),
    ]
    assert [h.shell for h in hooks] == [True, False, False]
    assert deploy_hooks([], tmp_path / "missing") == []
