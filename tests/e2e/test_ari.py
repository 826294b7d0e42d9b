"""ACME Renewal Information (RFC 9773) end to end, against today's Pebble: `renew` asks the
CA's renewalInfo when its Retry-After has passed, renews inside the window the CA sets (through
Pebble's management API) with `replaces`, stops when another machine already renewed
(alreadyReplaced), and renews a revoked certificate at once."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from acmecf.pki.chain import ari_certificate_id
from acmecf.sandbox.testbed import Sandbox

from .conftest import Acmecf
from .states import (
    NEW_ORDER,
    RENEWAL_INFO,
    REPLACEMENT,
    ask_ari_now,
    leaf,
    pebble_count,
    stored,
    versions,
)

UTC = datetime.UTC


def window(start: datetime.datetime, end: datetime.datetime) -> dict[str, dict[str, str]]:
    return {"suggestedWindow": {"start": start.isoformat(), "end": end.isoformat()}}


def window_past() -> dict[str, dict[str, str]]:
    """A window that has closed already: RFC 9773 §4.2 has the client renew at once."""
    now = datetime.datetime.now(UTC)
    return window(now - datetime.timedelta(hours=2), now - datetime.timedelta(hours=1))


def certificate_pem(acmecf: Acmecf, name: str) -> bytes:
    return leaf(acmecf.live(name)).public_bytes(serialization.Encoding.PEM)


def test_issuing_asks_renewal_info_once_and_a_noop_renew_asks_nothing(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    before = pebble_count(sandbox, RENEWAL_INFO)
    assert acmecf.issue("ari-once.example.com").code == 0
    assert pebble_count(sandbox, RENEWAL_INFO) == before + 1
    state = stored(acmecf.config_dir, "ari-once.example.com").state
    assert state.ari_renew_at is not None and state.ari_next_check is not None
    # Pebble's Retry-After is 6 hours: until then renew asks nothing at all.
    assert state.ari_next_check - datetime.datetime.now(UTC) > datetime.timedelta(hours=5)
    result = acmecf("renew")
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert pebble_count(sandbox, RENEWAL_INFO) == before + 1


def test_once_retry_after_passed_a_noop_renew_asks_once_per_certificate_and_stays_silent(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    names = ("ari-a.example.com", "ari-b.example.net")
    for name in names:
        assert acmecf.issue(name).code == 0
        ask_ari_now(acmecf.config_dir, name)
    sandbox.emulator.clear_logs()
    before = pebble_count(sandbox, RENEWAL_INFO)
    orders = pebble_count(sandbox, NEW_ORDER)

    result = acmecf("renew")

    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert pebble_count(sandbox, RENEWAL_INFO) == before + 2, "once per certificate"
    assert pebble_count(sandbox, NEW_ORDER) == orders
    assert sandbox.emulator.requests == [], "Cloudflare is never touched"
    for name in names:
        next_check = stored(acmecf.config_dir, name).state.ari_next_check
        assert next_check is not None
        assert next_check - datetime.datetime.now(UTC) > datetime.timedelta(hours=5)
    again = acmecf("renew")
    assert (again.code, again.stdout, again.stderr) == (0, "", "")
    assert pebble_count(sandbox, RENEWAL_INFO) == before + 2, "Retry-After is honoured"


def test_a_window_set_by_the_ca_renews_exactly_that_certificate_inside_it_with_replaces(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    names = ("window.example.com", "no-window.example.com")
    for name in names:
        assert acmecf.issue(name).code == 0
    target = stored(acmecf.config_dir, "window.example.com").state.ari_id
    other = stored(acmecf.config_dir, "no-window.example.com").state.ari_id
    assert target and other
    # A window that closes in three seconds: acmecf picks a moment in it and renews then.
    start = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    end = datetime.datetime.now(UTC) + datetime.timedelta(seconds=3)
    sandbox.pebble.set_renewal_info(
        certificate_pem(acmecf, "window.example.com"), window(start, end)
    )
    for name in names:
        ask_ari_now(acmecf.config_dir, name)
    replacements = pebble_count(sandbox, REPLACEMENT)
    serials = {name: leaf(acmecf.live(name)).serial_number for name in names}

    first = acmecf("renew", "--debug")
    picked = stored(acmecf.config_dir, "window.example.com").state.ari_renew_at
    assert picked is not None and start <= picked <= end, "a moment inside the window"
    if "renewed window.example.com" not in first.stdout:  # the moment had not come yet
        assert first.code == 0 and first.stdout == "", first.output
        time.sleep(max(0.0, (end - datetime.datetime.now(UTC)).total_seconds()) + 0.1)
    result = first if "renewed window.example.com" in first.stdout else acmecf("renew", "--debug")

    assert result.code == 0, result.output
    assert "renewed window.example.com: valid until" in result.stdout
    assert "no-window.example.com" not in result.stdout
    assert "window.example.com is due: inside the CA's renewal window (ARI)" in result.stderr
    assert f'"replaces": "{target}"' in result.stderr, "the order names what it replaces"
    assert f'"replaces": "{other}"' not in result.stderr
    assert pebble_count(sandbox, REPLACEMENT) == replacements + 1
    assert leaf(acmecf.live("window.example.com")).serial_number != serials["window.example.com"]
    assert (
        leaf(acmecf.live("no-window.example.com")).serial_number
        == (serials["no-window.example.com"])
    )
    assert versions(acmecf.config_dir, "no-window.example.com") == ["0001"]
    # The new certificate has its own window, asked right after issuance: nothing is due.
    renewed = stored(acmecf.config_dir, "window.example.com").state
    assert renewed.ari_id != target
    assert renewed.ari_renew_at is not None and renewed.ari_renew_at > datetime.datetime.now(UTC)
    quiet = acmecf("renew")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_a_window_already_closed_renews_at_once(acmecf: Acmecf, sandbox: Sandbox) -> None:
    name = "closed-window.example.com"
    assert acmecf.issue(name).code == 0
    sandbox.pebble.set_renewal_info(certificate_pem(acmecf, name), window_past())
    ask_ari_now(acmecf.config_dir, name)
    result = acmecf("renew")
    assert result.code == 0, result.output
    assert f"renewed {name}" in result.stdout


def test_a_certificate_another_machine_renewed_is_not_retried_at_every_run(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    name = "shared.example.com"
    assert acmecf.issue(name).code == 0
    # Another machine: a copy of this configuration, the same account and certificate.
    other = Acmecf(sandbox, tmp_path / "other-machine")
    shutil.copytree(acmecf.config_dir, other.config_dir, symlinks=True)
    original = leaf(acmecf.live(name))
    sandbox.pebble.set_renewal_info(certificate_pem(acmecf, name), window_past())
    ask_ari_now(other.config_dir, name)
    first = other("renew")
    assert first.code == 0, first.output
    assert f"renewed {name}" in first.stdout

    ask_ari_now(acmecf.config_dir, name)
    orders = pebble_count(sandbox, NEW_ORDER)
    result = acmecf("renew")

    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"skipped {name}: the CA says another order already replaced")
    assert "another machine, or an earlier run, with this account renewed it" in lines[0]
    assert f"`acmecf renew --force --cert-name {name}` renews it now" in lines[0]
    assert pebble_count(sandbox, NEW_ORDER) == orders + 1, "one order, refused"
    assert leaf(acmecf.live(name)) == original, "this copy stays as it was"
    state = stored(acmecf.config_dir, name).state
    assert state.replaced_elsewhere is not None
    # The next runs leave it alone: no order, no renewalInfo, no output.
    asked = pebble_count(sandbox, RENEWAL_INFO)
    for _ in range(2):
        again = acmecf("renew")
        assert (again.code, again.stdout, again.stderr) == (0, "", "")
    assert pebble_count(sandbox, NEW_ORDER) == orders + 1
    assert pebble_count(sandbox, RENEWAL_INFO) == asked
    listing = acmecf("list")
    assert "replaced elsewhere" in listing.stdout
    # Asked to, it orders a certificate for this machine, without claiming to replace.
    forced = acmecf("renew", "--force", "--cert-name", name)
    assert forced.code == 0, forced.output
    assert f"renewed {name}" in forced.stdout
    assert stored(acmecf.config_dir, name).state.replaced_elsewhere is None


def test_a_revoked_certificate_is_renewed_at_the_next_run(acmecf: Acmecf, sandbox: Sandbox) -> None:
    name = "revoked-next.example.com"
    assert acmecf.issue(name).code == 0
    ari_id = stored(acmecf.config_dir, name).state.ari_id
    revoked = acmecf("revoke", "--cert-name", name, "--reason", "keycompromise")
    assert revoked.code == 0, revoked.output
    replacements = pebble_count(sandbox, REPLACEMENT)

    result = acmecf("renew", "--debug")

    assert result.code == 0, result.output
    assert f"{name} is due: revoked" in result.stderr
    assert f"renewed {name}" in result.stdout
    assert f'"replaces": "{ari_id}"' in result.stderr
    assert pebble_count(sandbox, REPLACEMENT) == replacements + 1
    assert stored(acmecf.config_dir, name).state.last_result == "ok"
    assert acmecf("renew").stdout == ""


def test_a_certificate_revoked_elsewhere_is_renewed_once_the_ca_says_so(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    # Revoked by another machine with the same account: only the CA's ARI can tell this one.
    name = "revoked-elsewhere.example.com"
    assert acmecf.issue(name).code == 0
    other = Acmecf(sandbox, tmp_path / "other-machine")
    shutil.copytree(acmecf.config_dir, other.config_dir, symlinks=True)
    assert other("revoke", "--cert-name", name, "--reason", "superseded").code == 0
    serial = leaf(acmecf.live(name)).serial_number
    status = sandbox.pebble.certificate_status(serial)
    assert status is not None and status["Status"] == "Revoked"
    assert acmecf("renew").stdout == "", "before Retry-After passes, nothing is asked"

    ask_ari_now(acmecf.config_dir, name)
    result = acmecf("renew")

    assert result.code == 0, result.output
    assert f"renewed {name}" in result.stdout
    assert leaf(acmecf.live(name)).serial_number != serial
    state = stored(acmecf.config_dir, name).state
    assert ari_certificate_id(leaf(acmecf.live(name))) == state.ari_id


HEAVY = ("cloudflare", "acme", "josepy", "cryptography", "dns", "requests")
IMPORTS_OF_A_RENEW = f"""
import sys
from acmecf.main import main
sys.argv = ["acmecf", "renew"]
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
print(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r})))
"""


def test_a_noop_renew_imports_no_sdk_no_acme_library_and_no_cryptography(acmecf: Acmecf) -> None:
    assert acmecf.issue("light.example.com").code == 0
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_OF_A_RENEW],
        env=acmecf.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
