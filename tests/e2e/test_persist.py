"""dns-persist-01 end to end, against today's Pebble: `persist setup` publishes the record
once through the Cloudflare emulator and waits for every nameserver, `issue --challenge
dns-persist-01` then needs no Cloudflare credentials at all (wildcards included), `persist
status` judges the records against the account as the CA would, `persist remove` deletes
exactly this account's records."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from acmecf.sandbox.testbed import Sandbox
from acmecf.storage.files import FileStore

from .conftest import Acmecf, challenge_records
from .states import leaf
from .test_issue import assert_valid_live_certificate

ISSUER = "pebble.letsencrypt.org"  # Pebble's default caaIdentities, its issuer domain name
NO_CLOUDFLARE = {"CLOUDFLARE_API_TOKEN": None, "CLOUDFLARE_BASE_URL": None}


def account_uri(acmecf: Acmecf) -> str:
    server = acmecf.sandbox.pebble.directory_url
    account = FileStore(acmecf.config_dir).load_account(server)
    assert account is not None
    return str(account.info["uri"])


def persist_records(sandbox: Sandbox, name: str) -> list[str]:
    """The TXT values the emulator holds at _validation-persist.NAME (quotes removed)."""
    return sorted(
        str(record["content"]).strip('"')
        for record in sandbox.emulator.records(type="TXT")
        if record["name"] == f"_validation-persist.{name}"
    )


def served_by_every_nameserver(sandbox: Sandbox, name: str, value: str) -> bool:
    query = dns.message.make_query(f"_validation-persist.{name}", dns.rdatatype.TXT)
    query.flags &= ~dns.flags.RD
    for server in sandbox.emulator.nameservers:
        answer = dns.query.tcp(query, server.address, port=sandbox.emulator.dns_port, timeout=2)
        texts = {b"".join(r.strings).decode() for rrset in answer.answer for r in rrset}
        if value not in texts:
            return False
    return True


def test_setup_once_then_issue_and_renew_a_wildcard_without_cloudflare_credentials(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    name = "persist.example.com"
    sandbox.emulator.set_nameserver_delay(2, 1.0)  # one nameserver lags behind
    started = time.monotonic()
    setup = acmecf("persist", "setup", "--agree-tos", "-d", name, "--wildcard")
    assert setup.code == 0, setup.output
    assert time.monotonic() - started >= 1.0, "it waited for the lagging nameserver"
    value = f"{ISSUER}; accounturi={account_uri(acmecf)}; policy=wildcard"
    assert setup.stdout.splitlines()[0] == f'published _validation-persist.{name} TXT "{value}"'
    assert "needs no Cloudflare credentials now" in setup.stdout
    assert persist_records(sandbox, name) == [value]
    assert served_by_every_nameserver(sandbox, name, value)
    again = acmecf("persist", "setup", "-d", name, "--wildcard")
    assert again.code == 0 and again.stdout.startswith("already published"), again.output
    assert persist_records(sandbox, name) == [value], "idempotent"

    sandbox.emulator.clear_logs()
    issued = acmecf.issue(
        name, f"*.{name}", extra=("--challenge", "dns-persist-01"), **NO_CLOUDFLARE
    )
    assert issued.code == 0, issued.output
    assert sandbox.emulator.requests == [], "the DNS provider is never touched"
    assert_valid_live_certificate(acmecf.live(name), [name, f"*.{name}"], pebble_root)
    settings = tomllib.loads((acmecf.config_dir / f"renewal/{name}.toml").read_text())
    assert settings["certificate"]["challenge"] == "dns-persist-01"
    first = leaf(acmecf.live(name)).serial_number
    renewed = acmecf("renew", "--force", **NO_CLOUDFLARE)
    assert renewed.code == 0, renewed.output
    assert f"renewed {name}" in renewed.stdout
    assert leaf(acmecf.live(name)).serial_number != first
    assert sandbox.emulator.requests == []
    assert challenge_records(sandbox) == []
    status = acmecf("persist", "status", **NO_CLOUDFLARE)
    assert status.code == 0, status.output
    assert status.stdout.splitlines() == [
        f"ok    {name}: _validation-persist.{name} lets {account_uri(acmecf)} issue for {name} "
        f"and *.{name} (no end)"
    ]
    # A dns-01 run in the same configuration removes its own records, never this one.
    assert acmecf.issue("dns01.example.com").code == 0
    assert persist_records(sandbox, name) == [value]


def test_status_catches_a_record_bound_to_another_account(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    name = "taken.example.com"
    other = Acmecf(sandbox, tmp_path / "other-account")
    assert other("persist", "setup", "--agree-tos", "-d", name).code == 0
    theirs = account_uri(other)

    status = acmecf("persist", "status", "--agree-tos", "-d", name, **NO_CLOUDFLARE)

    assert status.code == 1
    mine = account_uri(acmecf)
    assert mine != theirs
    assert status.stdout.splitlines() == [
        f"FAIL  {name}: _validation-persist.{name}: it is bound to another account ({theirs}), "
        f"not this one ({mine}): run `acmecf persist setup -d {name}` to add this account's "
        "record (and remove the other one if that account must not issue)"
    ]
    assert status.stderr.splitlines()[-1] == (
        "acmecf: error: 1 of 1 dns-persist-01 record would not let this account issue: "
        f"{name} (see above)"
    )
    refused = acmecf.issue(name, extra=("--challenge", "dns-persist-01"), **NO_CLOUDFLARE)
    assert refused.code == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith(f"acmecf: error: the CA could not validate {name}: ")
    assert "accounturi mismatch" in last
    assert last.endswith(
        f"`acmecf persist status -d {name}` says what is wrong with the record, "
        "`acmecf persist setup` publishes it"
    )
    assert not acmecf.live(name).exists()


def test_a_wildcard_needs_policy_wildcard_and_setup_replaces_the_older_record(
    acmecf: Acmecf, sandbox: Sandbox, pebble_root: Path
) -> None:
    name = "plain.example.com"
    assert acmecf("persist", "setup", "--agree-tos", "-d", name).code == 0
    status = acmecf("persist", "status", "-d", f"*.{name}")
    assert status.code == 1
    assert status.stdout.strip() == (
        f"FAIL  {name}: _validation-persist.{name}: it lacks policy=wildcard, which *.{name} "
        f"needs: run `acmecf persist setup -d {name} --wildcard`"
    )
    refused = acmecf.issue(f"*.{name}", extra=("--challenge", "dns-persist-01"), **NO_CLOUDFLARE)
    assert refused.code == 1
    assert "policy mismatch" in refused.stderr

    widened = acmecf("persist", "setup", "-d", f"*.{name}")
    assert widened.code == 0, widened.output
    assert "removed this account's older record there" in widened.stdout
    assert persist_records(sandbox, name) == [
        f"{ISSUER}; accounturi={account_uri(acmecf)}; policy=wildcard"
    ]
    issued = acmecf.issue(
        f"*.{name}", extra=("--challenge", "dns-persist-01", "--cert-name", "wild"), **NO_CLOUDFLARE
    )
    assert issued.code == 0, issued.output
    assert_valid_live_certificate(acmecf.live("wild"), [f"*.{name}"], pebble_root)


def test_until_sets_persist_until_and_remove_takes_only_this_accounts_records(
    acmecf: Acmecf, sandbox: Sandbox, tmp_path: Path
) -> None:
    name = "until.example.com"
    past = acmecf("persist", "setup", "--agree-tos", "-d", name, "--until", "2020-01-01")
    assert past.code == 2
    assert past.stderr.strip() == "acmecf: error: --until 2020-01-01 has passed: give a later date"
    assert acmecf("persist", "setup", "--agree-tos", "-d", name, "--until", "2099-06-30").code == 0
    assert persist_records(sandbox, name) == [
        f"{ISSUER}; accounturi={account_uri(acmecf)}; persistUntil=4086460800"
    ]
    status = acmecf("persist", "status", "-d", name)
    assert status.code == 0 and status.stdout.rstrip().endswith("(until 2099-06-30 00:00 UTC)")
    other = Acmecf(sandbox, tmp_path / "other-account")
    assert other("persist", "setup", "--agree-tos", "-d", name).code == 0
    assert len(persist_records(sandbox, name)) == 2

    removed = acmecf("persist", "remove", "-d", name)

    assert removed.code == 0, removed.output
    assert removed.stdout.splitlines() == [
        f"removed _validation-persist.{name} (1 record)",
        "  1 record(s) of other accounts stay there",
    ]
    assert persist_records(sandbox, name) == [f"{ISSUER}; accounturi={account_uri(other)}"]
    gone = acmecf("persist", "status", "-d", name)
    assert gone.code == 1
    assert "bound to another account" in gone.stdout


def test_persist_without_an_account_and_without_agree_tos_says_what_to_do(
    acmecf: Acmecf, sandbox: Sandbox
) -> None:
    result = acmecf("persist", "setup", "-d", "noaccount.example.com")
    assert result.code == 2
    assert result.stderr.strip().endswith("and run again with --agree-tos")
    assert persist_records(sandbox, "noaccount.example.com") == []
