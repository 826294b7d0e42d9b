"""Judging what the origin showed: one finding per question, each problem with its fix (the
pure half of the origin check: no sockets, no files).

Does not: connect anywhere, read files or talk to the Cloudflare API.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acmecf.origin.handshake import (
    CLOUDFLARE_PULL_CA_NAME,
    EXPIRY_WARNING_DAYS,
    GOOD_TLS_VERSIONS,
    ISSUER_MISSING,
    ORIGIN_CA_UNITS,
    VERIFY_ERRORS,
    Handshake,
)
from acmecf.pki.chain import certificate_names

UTC = datetime.UTC


@dataclass(frozen=True)
class Finding:
    """One line of the report. `ok` is True (fine), False (a problem) or None (for your
    information). `fix` says what to do when it is a problem."""

    check: str
    ok: bool | None
    message: str
    fix: str | None = None

    def line(self) -> str:
        label = {True: "ok", False: "FAIL", None: "info"}[self.ok]
        text = f"{self.check}: {self.message}"
        if self.fix:
            text += f": {self.fix}"
        return f"{label:<5} {text}"


@dataclass(frozen=True)
class HeldCertificate:
    """The certificate acmecf holds (live) for a name."""

    cert_name: str
    leaf: x509.Certificate
    fullchain: Path


@dataclass(frozen=True)
class ClientAuthExpectation:
    """What origin pulls, as acmecf set them up, expect of the origin for a name.

    `mode` is "shared", "own-ca" or None (origin pulls off); `ca_file` is the CA the web server
    must trust; `accepted` is whether the origin let acmecf's own client certificate through
    (None when not tried).
    """

    mode: str | None
    zone_name: str
    ca_file: Path | None = None
    accepted: bool | None = None


@dataclass(frozen=True)
class OriginReport:
    name: str
    origin: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
        }


def evaluate(
    name: str,
    result: Handshake,
    *,
    now: datetime.datetime,
    trust: str,
    held: HeldCertificate | None,
    expectation: ClientAuthExpectation | None,
) -> list[Finding]:
    """The findings for what `result` showed when asked for `name`. `trust` names the trust
    store in messages ("the system trust store" or the bundle's path)."""
    if not result.chain:
        return [Finding("chain", False, "the server sent no certificate")]
    leaf = result.chain[0]
    return [
        _chain_finding(result),
        _trust_finding(result, trust),
        _name_finding(name, leaf),
        _expiry_finding(leaf, now),
        _held_finding(name, leaf, held),
        _tls_finding(result.tls_version),
        _client_auth_finding(result, expectation),
    ]


def _subject(certificate: x509.Certificate) -> str:
    for attribute in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return str(attribute.value)
    return certificate.subject.rfc4514_string() or "(empty subject)"


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _is_origin_ca(certificate: x509.Certificate) -> bool:
    units = certificate.issuer.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(str(unit.value) in ORIGIN_CA_UNITS for unit in units)


def _chain_finding(result: Handshake) -> Finding:
    chain = result.chain
    intermediates = [c for c in chain[1:] if not _is_self_signed(c)]
    sent_root = any(_is_self_signed(c) for c in chain[1:])
    subjects = " <- ".join(_subject(c) for c in chain)
    count = f"{len(intermediates)} intermediate{'s' * (len(intermediates) != 1)}"
    message = f"{subjects} ({count}{', and the root' if sent_root else ''})"
    for child, issuer in itertools.pairwise(chain):
        if child.issuer != issuer.subject:
            return Finding(
                "chain",
                False,
                f"{message}; {_subject(issuer)} did not issue {_subject(child)}",
                "the certificates are out of order or from different chains: serve "
                "fullchain.pem exactly as acmecf writes it",
            )
    missing_issuer = any(code in ISSUER_MISSING for _, code in result.verify_errors)
    if not intermediates and not _is_self_signed(chain[0]) and missing_issuer:
        if _is_origin_ca(chain[0]):
            return Finding("chain", True, f"{message}; Origin CA certificates need none")
        return Finding(
            "chain",
            False,
            f"{message}; the server sends no intermediates",
            "point ssl_certificate at fullchain.pem, not cert.pem (Apache: SSLCertificateFile)",
        )
    return Finding("chain", True, message)


def _trust_finding(result: Handshake, trust: str) -> Finding:
    if not result.verify_errors:
        return Finding("trust", True, f"validates against {trust} without help")
    depth, code = result.verify_errors[0]
    reason = VERIFY_ERRORS.get(code, f"OpenSSL verify error {code}")
    leaf = result.chain[0]
    if code in ISSUER_MISSING and _is_origin_ca(leaf):
        return Finding(
            "trust",
            None,
            f"signed by Cloudflare's Origin CA ({reason} in {trust}): only Cloudflare trusts "
            "it, fine behind its proxy in Full (strict), refused by anyone reaching the origin "
            "directly (pass --ca-bundle with the Origin CA root to check it fully)",
        )
    if code in (18, 19):
        fix = (
            "Cloudflare's Full (strict) mode refuses a self-signed certificate (error 526): "
            "issue one with `acmecf issue`"
        )
    elif code in ISSUER_MISSING and len(result.chain) == 1:
        fix = "serve fullchain.pem; until then Full (strict) fails with error 526"
    elif code in ISSUER_MISSING:
        fix = (
            f"the chain does not lead to a root in {trust}: serve fullchain.pem, or pass "
            "--ca-bundle if a private or test CA issued it"
        )
    elif code == 10:
        fix = "renew it (acmecf renew) and reload the web server"
    else:
        fix = "serve fullchain.pem as acmecf writes it"
    return Finding(
        "trust", False, f"does not validate against {trust}: {reason} at depth {depth}", fix
    )


def name_matches(name: str, patterns: list[str]) -> bool:
    """Whether `name` is covered by a certificate for `patterns` (RFC 6125: a wildcard
    stands for exactly one leftmost label)."""
    name = name.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _name_finding(name: str, leaf: x509.Certificate) -> Finding:
    names = certificate_names(leaf)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if name_matches(name, names):
        return Finding("name", True, f"{name} is in the certificate ({shown})")
    return Finding(
        "name",
        False,
        f"{name} is not in the certificate ({shown or 'no DNS names'})",
        f"issue one for it (`acmecf issue -d {name}`) and point this server block at it",
    )


def _expiry_finding(leaf: x509.Certificate, now: datetime.datetime) -> Finding:
    left = leaf.not_valid_after_utc - now
    days = left.total_seconds() / 86400
    until = f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if days <= 0:
        return Finding(
            "expiry",
            False,
            f"expired on {until}",
            "run `acmecf renew` and reload the web server; Full (strict) fails with error 526",
        )
    if leaf.not_valid_before_utc > now:
        return Finding("expiry", False, f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    # A short-lived certificate (Let's Encrypt's 160 hours) has less than a week when new: warn
    # when less than a quarter of its own lifetime is left, or a week for longer ones.
    lifetime = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() / 86400
    if days < min(EXPIRY_WARNING_DAYS, lifetime / 4):
        return Finding(
            "expiry",
            False,
            f"{days:.1f} days left (until {until})",
            "renewal is not happening: run `acmecf renew`, check `acmecf list` and the timer",
        )
    return Finding("expiry", True, f"{days:.0f} days left (until {until})")


def _held_finding(name: str, leaf: x509.Certificate, held: HeldCertificate | None) -> Finding:
    if held is None:
        return Finding("acmecf", None, f"acmecf holds no certificate for {name} here")
    if leaf.public_bytes(serialization.Encoding.DER) == held.leaf.public_bytes(
        serialization.Encoding.DER
    ):
        return Finding("acmecf", True, f"serves the certificate acmecf holds ({held.cert_name})")
    same_names = set(certificate_names(leaf)) & set(certificate_names(held.leaf))
    # Not after the held one (CAs round validity to the second: a quick renewal can tie).
    if same_names and leaf.not_valid_before_utc <= held.leaf.not_valid_before_utc:
        return Finding(
            "acmecf",
            False,
            f"serves an older certificate (issued {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S}) "
            f"than the one acmecf holds for {name} ({held.cert_name}, issued "
            f"{held.leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S}); the web server was not "
            "reloaded after the renewal",
            "reload it (systemctl reload nginx) and make that automatic: "
            f"acmecf issue --cert-name {held.cert_name} ... --deploy-hook "
            "'systemctl reload nginx'",
        )
    return Finding(
        "acmecf",
        False,
        f"serves a certificate acmecf does not hold (serial {leaf.serial_number:x}, issued by "
        f"{_subject_of_issuer(leaf)})",
        f"point ssl_certificate at {held.fullchain} and reload the web server",
    )


def _subject_of_issuer(certificate: x509.Certificate) -> str:
    for attribute in certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return str(attribute.value)
    return certificate.issuer.rfc4514_string()


def _tls_finding(version: str) -> Finding:
    if version in GOOD_TLS_VERSIONS:
        return Finding("tls", True, version)
    return Finding(
        "tls",
        False,
        f"negotiated {version}",
        "allow only TLS 1.2 and 1.3 (nginx: ssl_protocols TLSv1.2 TLSv1.3;)",
    )


def _client_auth_finding(result: Handshake, expectation: ClientAuthExpectation | None) -> Finding:
    state = result.client_auth
    names = "; ".join(result.client_ca_names) or "no CA named"
    described = {
        "required": f"the origin demands a client certificate ({names})",
        "optional": f"the origin asks for a client certificate but lets requests in without "
        f"one ({names})",
        "not requested": "the origin does not ask for a client certificate",
    }[state]
    if expectation is None:
        return Finding("client certificate", None, described)
    if expectation.mode is None:
        if state == "required":
            return Finding(
                "client certificate",
                False,
                f"{described}, but origin pulls are off for {expectation.zone_name}",
                'every request through Cloudflare fails with 400 "No required SSL certificate '
                'was sent": run `acmecf cloudflare origin-pulls enable`, or remove '
                "ssl_verify_client",
            )
        return Finding("client certificate", None, described)
    where = f" ({expectation.ca_file})" if expectation.ca_file else ""
    if state != "required":
        return Finding(
            "client certificate",
            False,
            f"origin pulls are on for {expectation.zone_name}, but "
            f"{described.removeprefix('the ')}",
            f"demand Cloudflare's certificate: ssl_client_certificate{where} and "
            "ssl_verify_client on (see `acmecf nginx-config`); anyone who finds the origin's "
            "address can bypass Cloudflare until then",
        )
    if expectation.mode == "shared" and not any(
        CLOUDFLARE_PULL_CA_NAME in n for n in result.client_ca_names
    ):
        return Finding(
            "client certificate",
            False,
            f"{described}, but not from Cloudflare's origin-pull CA",
            f"point ssl_client_certificate at {expectation.ca_file} (Cloudflare's shared CA)",
        )
    if expectation.mode == "own-ca" and expectation.accepted is False:
        return Finding(
            "client certificate",
            False,
            f"{described}, and refuses the client certificate acmecf uploaded to Cloudflare",
            f"point ssl_client_certificate at {expectation.ca_file}",
        )
    accepted = ", and accepts acmecf's client certificate" if expectation.accepted else ""
    return Finding("client certificate", True, f"{described}{accepted}")
