"""Taking certificates over from certbot: its renewal configurations, live files and accounts.

Reads a certbot configuration directory as certbot 5.x lays it out::

    <certbot>/renewal/<name>.conf            configobj text: live paths and [renewalparams]
    <certbot>/live/<name>/{cert,chain,fullchain,privkey}.pem -> ../../archive/<name>/<kind><N>.pem
    <certbot>/accounts/<host>/<path>/<id>/private_key.json (a JWK), regr.json, meta.json
    <certbot>/renewal-hooks/deploy/          executables certbot runs after every renewal

`plan_import` decides, without writing anything, which certificates acmecf takes over (the ones
certbot renews with the dns-cloudflare authenticator), checks their files and reads the ACME
account; `carry_out` writes the plan through the Store, the current certificate becoming the
live version so nothing is re-issued on day one. `disable_certbot_renewal` is the only function
that writes under the certbot directory. This module does not talk to the network and does not
know click.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.x509.oid import NameOID

from acmecf.errors import AcmecfError, CertbotImportError, CertificateError, UsageError
from acmecf.names import check_cert_name, normalize_names
from acmecf.pki.chain import Chain, ari_certificate_id, certificate_names, split_pem, verify_chain
from acmecf.pki.keys import load_key
from acmecf.settings.table import (
    KEY_TYPES,
    LETSENCRYPT,
    LETSENCRYPT_STAGING,
    CertificateSettings,
)
from acmecf.storage.files import FileStore
from acmecf.storage.model import CertificateMaterial, CertificateState, StoredCertificate
from acmecf.storage.safe import write_file_atomic

log = logging.getLogger(__name__)

AUTHENTICATOR = "dns-cloudflare"
# certbot's defaults for what a renewal configuration leaves out (certbot/_internal/constants.py
# CLI_DEFAULTS), and the ACMEv1 URL it silently replaces with v2 (renewal._restore_str).
CERTBOT_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
_ACME_V1 = "https://acme-v01.api.letsencrypt.org/directory"
# Accounts certbot reuses from an older server's directory (constants.LE_REUSE_SERVERS).
_REUSED_ACCOUNT_PATHS = {
    "acme-v02.api.letsencrypt.org/directory": "acme-v01.api.letsencrypt.org/directory",
    "acme-staging-v02.api.letsencrypt.org/directory": "acme-staging.api.letsencrypt.org/directory",
}
_CURVES = {"secp256r1": "ecdsa-p256", "prime256v1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}
_CERT_KINDS = ("cert", "chain", "fullchain", "privkey")
# Certbot settings acmecf does not carry over, with what to do instead.
_NOT_CARRIED = {
    "pre_hook": "pass it to `acmecf renew --pre-hook` (run once per renew run)",
    "post_hook": "pass it to `acmecf renew --post-hook` (run once per renew run)",
}
DISABLED_MARK = (
    "# acmecf renews this certificate now (acmecf import-certbot); "
    "remove the next line to give it back to certbot"
)


# --- certbot's renewal configuration (configobj syntax) -------------------------------------

Value = str | tuple[str, ...]


@dataclass(frozen=True)
class RenewalConfiguration:
    """One `renewal/<name>.conf`: its top-level keys and its sections, values unquoted."""

    path: Path
    top: Mapping[str, Value]
    sections: Mapping[str, Mapping[str, Value]]

    @property
    def lineage(self) -> str:
        return self.path.name.removesuffix(".conf")

    @property
    def params(self) -> Mapping[str, Value]:
        return self.sections.get("renewalparams", {})

    def text(self, key: str, default: str | None = None) -> str | None:
        """A [renewalparams] value as one string; raises CertbotImportError for a list."""
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise CertbotImportError(
                f"{self.path}: {key} holds a list ({', '.join(value)}), expected one value; "
                "fix the file"
            )
        return None if value in (None, "None") else value

    def flag(self, key: str) -> bool | None:
        """A [renewalparams] boolean as configobj's as_bool reads it; None when absent."""
        value = self.text(key)
        if value is None:
            return None
        return value.strip().lower() in ("true", "yes", "on", "1")


# configobj 5's own expressions (ConfigObj._keyword, _sectionmarker, _valueexp, _listvalueexp),
# so values with quotes, commas and comments read exactly as certbot reads them.
_KEYWORD = re.compile(r"""^\s*((?:".*?")|(?:'.*?')|(?:[^'"=].*?))\s*=\s*(.*)$""")
_SECTION = re.compile(
    r"""^\s*((?:\[\s*)+)((?:"\s*\S.*?\s*")|(?:'\s*\S.*?\s*')|(?:[^'"\s].*?))((?:\s*\])+)\s*(\#.*)?$"""
)
_VALUE = re.compile(
    r"""^(?:(?:((?:(?:(?:".*?")|(?:'.*?')|(?:[^'",\#][^,\#]*?))\s*,\s*)*)"""
    r"""((?:".*?")|(?:'.*?')|(?:[^'",\#\s][^,]*?)|(?:(?<!,)))?)|(,))\s*(\#.*)?$"""
)
_LIST_ITEM = re.compile(r"""((?:".*?")|(?:'.*?')|(?:[^'",\#]?.*?))\s*,\s*""")


def read_renewal_configuration(path: Path) -> RenewalConfiguration:
    """Parse a certbot renewal configuration (the configobj subset certbot writes).

    Nested sections (`[[webroot_map]]`) are skipped. Raises CertbotImportError naming the file
    and line when it cannot be read or parsed.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CertbotImportError(f"cannot read {path}: {_reason(err)}") from err
    top: dict[str, Value] = {}
    sections: dict[str, dict[str, Value]] = {}
    current: dict[str, Value] | None = top
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        section = _SECTION.match(line)
        if section:
            depth = section.group(1).count("[")
            if depth == 1:
                current = sections.setdefault(_unquote(section.group(2).strip()), {})
            else:
                current = None  # a subsection: nothing acmecf needs
            continue
        keyword = _KEYWORD.match(line)
        if keyword is None:
            raise CertbotImportError(f"{path} line {number}: expected `key = value`; fix the file")
        key, raw = _unquote(keyword.group(1).strip()), keyword.group(2)
        value: Value
        if raw[:3] in ("'''", '"""'):
            value, index = _triple_quoted(raw, lines, index, path, number)
        else:
            value = _parse_value(raw, path, number)
        if current is not None:
            current[key] = value
    return RenewalConfiguration(path, top, sections)


def _parse_value(raw: str, path: Path, number: int) -> Value:
    match = _VALUE.match(raw)
    if match is None:
        raise CertbotImportError(f"{path} line {number}: badly quoted value; fix the file")
    items, single, empty_list, _comment = match.groups()
    if empty_list is not None:
        return ()
    if not items:
        return _unquote(single or '""')
    values = [_unquote(item) for item in _LIST_ITEM.findall(items)]
    if single:
        values.append(_unquote(single))
    return tuple(values)


def _triple_quoted(
    raw: str, lines: list[str], index: int, path: Path, number: int
) -> tuple[str, int]:
    quote, rest = raw[:3], raw[3:]
    end = rest.find(quote)
    if end >= 0:
        return rest[:end], index
    parts = [rest]
    while index < len(lines):
        line = lines[index]
        index += 1
        end = line.find(quote)
        if end >= 0:
            parts.append(line[:end])
            return "\n".join(parts), index
        parts.append(line)
    raise CertbotImportError(f"{path} line {number}: unterminated {quote} value; fix the file")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertbotAccount:
    """A certbot ACME account whose key could be read."""

    server: str
    account_id: str
    directory: Path
    uri: str
    key_pem: bytes  # PKCS#8 PEM, as acmecf stores account keys
    email: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class LiveFiles:
    """The four files of a certificate's current version, as they will be written."""

    cert: bytes
    chain: bytes
    fullchain: bytes
    privkey: bytes


@dataclass(frozen=True)
class Takeover:
    """A certbot certificate acmecf takes over: settings, current files, where they came from."""

    renewal_file: Path
    certificate: StoredCertificate
    files: LiveFiles
    source: Path  # the archive file certbot's live cert.pem points at
    account: str  # what happens to the ACME account, for the report
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.certificate.name


@dataclass(frozen=True)
class Skipped:
    """A certbot certificate left as it is, and why."""

    name: str
    reason: str
    renewal_file: Path
    already_imported: bool = False  # acmecf manages the same names under the same name


@dataclass(frozen=True)
class ImportPlan:
    """What `carry_out` will do; `plan_import` builds it without writing anything."""

    certbot_dir: Path
    takeovers: tuple[Takeover, ...] = ()
    accounts: tuple[CertbotAccount, ...] = ()  # to store in acmecf, one per server
    skipped: tuple[Skipped, ...] = ()
    failures: tuple[Skipped, ...] = ()  # dns-cloudflare certificates that cannot be read
    notes: tuple[str, ...] = ()

    @property
    def imported_before(self) -> tuple[Skipped, ...]:
        return tuple(s for s in self.skipped if s.already_imported)


def plan_import(
    certbot_dir: Path, store: FileStore, *, cert_names: Sequence[str] = ()
) -> ImportPlan:
    """Read `certbot_dir` and decide what acmecf takes over, writing nothing.

    Every renewal configuration whose authenticator is dns-cloudflare becomes a Takeover (its
    names from the current certificate's subjectAltName, key type, server, credentials file,
    deploy hook, reuse_key, preferred chain, required or preferred profile and must-staple
    (dropped, with a note, for Let's Encrypt, which no longer issues it), the current files
    verified to match and chain, validity as the state); the
    others are Skipped with the reason. A certificate acmecf already manages is Skipped. A
    dns-cloudflare certificate that cannot be read becomes a failure with the reason. The
    account is read from certbot's accounts/ when its key can be; otherwise the takeover says
    acmecf will need an account of its own. Raises CertbotImportError when `certbot_dir` holds
    no renewal configurations, and UsageError for a `cert_names` entry it does not hold.
    """
    renewal_dir = certbot_dir / "renewal"
    try:
        files = sorted(p for p in renewal_dir.iterdir() if p.name.endswith(".conf"))
    except FileNotFoundError:
        raise CertbotImportError(
            f"{renewal_dir} does not exist: pass --certbot-dir with certbot's configuration "
            "directory (where renewal/, live/ and accounts/ are)"
        ) from None
    except OSError as err:
        raise CertbotImportError(f"cannot list {renewal_dir}: {_reason(err)}") from err
    by_name = {p.name.removesuffix(".conf"): p for p in files}
    missing = [name for name in cert_names if name not in by_name]
    if missing:
        raise UsageError(
            f"no certbot certificate named {', '.join(missing)} in {renewal_dir}; "
            f"it holds: {', '.join(by_name) or 'none'}"
        )
    selected = [by_name[name] for name in cert_names] if cert_names else files
    takeovers: list[Takeover] = []
    skipped: list[Skipped] = []
    failures: list[Skipped] = []
    accounts: dict[str, CertbotAccount] = {}
    for path in selected:
        name = path.name.removesuffix(".conf")
        try:
            configuration = read_renewal_configuration(path)
            authenticator = configuration.text("authenticator") or "unknown"
            if authenticator != AUTHENTICATOR:
                skipped.append(Skipped(name, f"authenticator {authenticator}", path))
                continue
            outcome = _plan_takeover(configuration, certbot_dir, store, accounts)
        except (AcmecfError, ValueError) as err:
            failures.append(Skipped(name, str(err), path))
            continue
        if isinstance(outcome, Skipped):
            skipped.append(outcome)
        else:
            takeovers.append(outcome)
    return ImportPlan(
        certbot_dir,
        tuple(takeovers),
        tuple(accounts.values()),
        tuple(skipped),
        tuple(failures),
        _directory_hook_notes(certbot_dir, store) if takeovers else (),
    )


def _plan_takeover(
    configuration: RenewalConfiguration,
    certbot_dir: Path,
    store: FileStore,
    accounts: dict[str, CertbotAccount],
) -> Takeover | Skipped:
    """The takeover of one dns-cloudflare certificate, or why acmecf leaves it alone."""
    name = check_cert_name(configuration.lineage)
    files, chain, source = _current_files(configuration, certbot_dir)
    names = _names(chain)
    if name in store.names():
        existing = store.load(name)
        if sorted(existing.settings.names) == sorted(names):
            return Skipped(name, "already imported into acmecf", configuration.path, True)
        return Skipped(
            name,
            f"acmecf already has a certificate named {name} for other names; "
            f"`acmecf delete --cert-name {name}` first to import this one",
            configuration.path,
        )
    notes: list[str] = []
    server = configuration.text("server") or CERTBOT_SERVER
    if server == _ACME_V1:
        server = CERTBOT_SERVER
    credentials = configuration.text("dns_cloudflare_credentials")
    notes.extend(_credentials_notes(credentials))
    notes.extend(_unsupported_notes(configuration))
    must_staple = bool(configuration.flag("must_staple"))
    if must_staple and server in (LETSENCRYPT, LETSENCRYPT_STAGING):
        must_staple = False
        notes.append(
            "must_staple is not carried over: Let's Encrypt no longer issues OCSP Must-Staple "
            "certificates (since 7 May 2025); its renewals come without it"
        )
    hooks = tuple(
        dict.fromkeys(
            hook
            for hook in (configuration.text("renew_hook"), configuration.text("deploy_hook"))
            if hook
        )
    )
    config = CertificateSettings(
        cert_name=name,
        names=tuple(names),
        key_type=key_type(configuration),
        server=server,
        credentials_file=credentials,
        deploy_hooks=hooks,
        reuse_key=bool(configuration.flag("reuse_key")),
        preferred_chain=configuration.text("preferred_chain"),
        profile=configuration.text("required_profile"),
        preferred_profile=(
            None
            if configuration.text("required_profile")
            else configuration.text("preferred_profile")
        ),
        must_staple=must_staple,
    )
    state = CertificateState(
        not_before=chain.not_before,
        not_after=chain.not_after,
        ari_id=ari_certificate_id(chain.leaf),
    )
    if chain.not_after <= datetime.datetime.now(datetime.UTC):
        notes.append("it has expired: the next `acmecf renew` renews it")
    account = _plan_account(configuration, certbot_dir, server, store, accounts)
    return Takeover(
        configuration.path,
        StoredCertificate(config, state),
        files,
        source,
        account,
        tuple(notes),
    )


def key_type(configuration: RenewalConfiguration) -> str:
    """acmecf's key type for certbot's key_type / elliptic_curve / rsa_key_size.

    A configuration without key_type is RSA: certbot before 1.25 did not record its default,
    and certbot restores "rsa" for it (certbot/_internal/renewal.py, reconstitute). Raises
    CertbotImportError for a key acmecf does not make (e.g. secp521r1, rsa 8192).
    """
    kind = (configuration.text("key_type") or "rsa").lower()
    if kind == "rsa":
        size = configuration.text("rsa_key_size") or "2048"
        result = f"rsa-{size.strip()}"
        shown = f"rsa {size}"
    elif kind == "ecdsa":
        curve = (configuration.text("elliptic_curve") or "secp256r1").lower()
        result = _CURVES.get(curve, "")
        shown = f"ecdsa {curve}"
    else:
        result, shown = "", kind
    if result not in KEY_TYPES:
        raise CertbotImportError(
            f"its key type ({shown}) is not one acmecf makes ({', '.join(KEY_TYPES)}): "
            f"take it over with `acmecf issue --cert-name {configuration.lineage} --key-type ...`"
        )
    return result


def _current_files(
    configuration: RenewalConfiguration, certbot_dir: Path
) -> tuple[LiveFiles, Chain, Path]:
    """Read the current version through certbot's live links and check that it is whole."""
    data: dict[str, bytes] = {}
    source = Path()
    for kind in _CERT_KINDS:
        configured = configuration.top.get(kind)
        path = (
            Path(configured)
            if isinstance(configured, str) and configured
            else certbot_dir / "live" / configuration.lineage / f"{kind}.pem"
        )
        try:
            data[kind] = path.read_bytes()
        except OSError as err:
            raise CertbotImportError(f"cannot read its {kind} {path}: {_reason(err)}") from err
        if kind == "cert":
            source = Path(os.path.realpath(path))
    try:
        key = load_key(data["privkey"], "its privkey.pem")
    except CertificateError as err:
        raise CertbotImportError(f"its private key is unreadable: {err}") from err
    try:
        leaf = split_pem(data["fullchain"], "its fullchain.pem")[:1]
    except CertificateError as err:
        raise CertbotImportError(str(err)) from err
    if not leaf:
        raise CertbotImportError("its fullchain.pem holds no certificate")
    if leaf[0].public_key() != key.public_key():
        raise CertbotImportError("its privkey.pem does not belong to its fullchain.pem")
    try:
        chain = verify_chain(data["fullchain"], key, certificate_names(leaf[0]))
    except CertificateError as err:
        raise CertbotImportError(f"its fullchain.pem does not verify: {err}") from err
    # fullchain.pem is what web servers read, hence the truth; cert.pem and chain.pem are
    # copied as they are when they agree with it, and rebuilt from it when they do not.
    cert = data["cert"] if split_pem(data["cert"]) == [chain.leaf] else chain.cert_pem
    intermediates = data["chain"] if split_pem(data["chain"]) == list(chain.intermediates) else b""
    return (
        LiveFiles(cert, intermediates or chain.chain_pem, data["fullchain"], data["privkey"]),
        chain,
        source,
    )


def _names(chain: Chain) -> list[str]:
    """The certificate's names, its common name first (as certbot lists them)."""
    names = certificate_names(chain.leaf)
    common = [
        str(attribute.value).lower()
        for attribute in chain.leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]
    if common and common[0] in names:
        names.remove(common[0])
        names.insert(0, common[0])
    if not names:
        raise CertbotImportError("its certificate names no DNS name")
    return normalize_names(names)


def _credentials_notes(credentials: str | None) -> list[str]:
    if credentials is None:
        return [
            "no dns_cloudflare_credentials in its configuration: acmecf will read "
            "CLOUDFLARE_API_TOKEN (or the systemd credential)"
        ]
    try:
        mode = os.stat(credentials).st_mode
    except FileNotFoundError:
        return [f"its credentials file {credentials} does not exist; renewals need it"]
    except OSError as err:
        return [f"cannot check its credentials file {credentials}: {_reason(err)}"]
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            f"its credentials file {credentials} may be read by group or others, which acmecf "
            f"refuses: run `chmod 600 {credentials}`"
        ]
    return []


def _unsupported_notes(configuration: RenewalConfiguration) -> list[str]:
    notes: list[str] = []
    for key, advice in _NOT_CARRIED.items():
        value = configuration.text(key)
        if value:
            notes.append(f"{key} = {value} is not carried over: {advice}")
    before = configuration.top.get("renew_before_expiry")
    if isinstance(before, str) and before:
        notes.append(
            f"renew_before_expiry = {before} is not carried over: acmecf renews when the CA's "
            "renewal window (ARI) opens, or a third of the lifetime before expiry "
            "(`acmecf renew --days N` for a fixed margin)"
        )
    if configuration.flag("autorenew") is False:
        notes.append("certbot's autorenew is off for it; acmecf will renew it")
    return notes


def _plan_account(
    configuration: RenewalConfiguration,
    certbot_dir: Path,
    server: str,
    store: FileStore,
    accounts: dict[str, CertbotAccount],
) -> str:
    """Pick the account for `server` (recording it in `accounts`) and say what happens."""
    try:
        account = read_certbot_account(certbot_dir, server, configuration.text("account"))
    except CertbotImportError as err:
        account = None
        problem = str(err)
    chosen = accounts.get(server)
    stored = store.load_account(server)
    stored_uri = stored.info.get("uri") if stored else None
    if account is None:
        if chosen is not None:
            return f"{problem}; acmecf uses the certbot account {chosen.uri} imported with it"
        if stored_uri:
            return f"{problem}; acmecf uses its own account {stored_uri}"
        return (
            f"{problem}; acmecf will need an account of its own at {server}: "
            f"`acmecf account register --server {server} --agree-tos`"
        )
    if stored_uri == account.uri:
        return f"acmecf already uses this certbot account ({account.uri})"
    if stored_uri:
        return (
            f"acmecf keeps its own account {stored_uri} at this CA "
            f"(certbot's is {account.uri}); one account per CA"
        )
    if chosen is not None and chosen.uri != account.uri:
        return (
            f"acmecf uses the certbot account {chosen.uri} (one account per CA), not {account.uri}"
        )
    accounts[server] = account
    return f"certbot's account {account.uri} (id {account.account_id})"


def read_certbot_account(certbot_dir: Path, server: str, account_id: str | None) -> CertbotAccount:
    """The certbot account `account_id` at `server`, its JWK key converted to a PEM.

    Without `account_id`, the only account certbot holds for `server` is taken. Looks where
    certbot does: accounts/<host><path>/<id>/, then the older Let's Encrypt path it reuses.
    Raises CertbotImportError saying why the account cannot be used.
    """
    from cryptography.hazmat.primitives import serialization
    from josepy.errors import DeserializationError
    from josepy.jwk import JWK

    parts = urlsplit(server)
    server_path = f"{parts.netloc}{parts.path}".strip("/")
    roots = [certbot_dir / "accounts" / server_path]
    if server_path in _REUSED_ACCOUNT_PATHS:
        roots.append(certbot_dir / "accounts" / _REUSED_ACCOUNT_PATHS[server_path])
    directory = _account_directory(roots, account_id)
    try:
        jwk = JWK.json_loads((directory / "private_key.json").read_text())
        key = load_key(
            jwk.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        registration = json.loads((directory / "regr.json").read_text())
        uri = registration["uri"]
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise ValueError(f"regr.json holds no account URL (uri = {uri!r})")
    except OSError as err:
        raise CertbotImportError(
            f"cannot read the certbot account in {directory}: {_reason(err)}"
        ) from err
    except (DeserializationError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CertbotImportError(
            f"the certbot account in {directory} is unreadable ({type(err).__name__}: {err})"
        ) from err
    meta: Any = {}
    with contextlib.suppress(OSError, ValueError):  # only when it was created: not needed
        meta = json.loads((directory / "meta.json").read_text())
    created = meta.get("creation_dt") if isinstance(meta, dict) else None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CertbotAccount(
        server=server,
        account_id=directory.name,
        directory=directory,
        uri=uri,
        key_pem=key_pem,
        email=_email(registration),
        created=str(created) if created else None,
    )


def _account_directory(roots: list[Path], account_id: str | None) -> Path:
    for root in roots:
        if account_id:
            if (root / account_id).is_dir():
                return root / account_id
            continue
        with contextlib.suppress(OSError):
            found = [p for p in root.iterdir() if p.is_dir()]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise CertbotImportError(
                    f"certbot holds {len(found)} accounts in {root} and the configuration "
                    "names none"
                )
    if account_id:
        raise CertbotImportError(f"certbot's account {account_id} is not in {roots[0]}")
    raise CertbotImportError(f"certbot has no account in {roots[0]}")


def _email(registration: Any) -> str | None:
    """The first mailto: contact of an older certbot's regr.json (5.x stores no body)."""
    body = registration.get("body") if isinstance(registration, dict) else None
    contacts = body.get("contact", ()) if isinstance(body, dict) else ()
    for contact in contacts if isinstance(contacts, list) else ():
        if isinstance(contact, str) and contact.startswith("mailto:"):
            return contact.removeprefix("mailto:")
    return None


def _directory_hook_notes(certbot_dir: Path, store: FileStore) -> tuple[str, ...]:
    hooks_dir = certbot_dir / "renewal-hooks" / "deploy"
    try:
        hooks = sorted(p.name for p in hooks_dir.iterdir() if not p.name.startswith("."))
    except OSError:
        return ()
    if not hooks:
        return ()
    return (
        f"certbot's deploy hooks in {hooks_dir} ({', '.join(hooks)}) are not copied: copy the "
        f"ones you need to {store.deploy_hooks_dir()}/ (they get RENEWED_LINEAGE and "
        "RENEWED_DOMAINS as before)",
    )


# --- writing ---------------------------------------------------------------------------------


def carry_out(plan: ImportPlan, store: FileStore) -> None:
    """Write the plan: each account's key and URL, then each certificate's settings and its
    current files as its live version, then its state.

    Each certificate is written under its lock. A certificate whose files cannot be written
    raises StoreError; the ones written before it stay imported, and running the import again
    picks up the rest. Writes nothing under the certbot directory.
    """
    import dataclasses

    for account in plan.accounts:
        store.save_account_key(account.server, account.key_pem)
        store.save_account_info(
            account.server,
            {
                "server": account.server,
                "uri": account.uri,
                "email": account.email,
                "created": account.created,
                "imported_from": str(account.directory),
            },
        )
        log.debug("imported the certbot account %s", account.uri)
    for takeover in plan.takeovers:
        files = takeover.files
        with store.lock(takeover.name):
            store.save(takeover.certificate)
            version = store.publish(
                takeover.name,
                CertificateMaterial(
                    privkey=files.privkey,
                    cert=files.cert,
                    chain=files.chain,
                    given_fullchain=files.fullchain,
                ),
            )
            state = dataclasses.replace(
                takeover.certificate.state, version=version, deployed_version=version
            )
            store.save(StoredCertificate(takeover.certificate.settings, state))


def disable_certbot_renewal(renewal_file: Path) -> bool:
    """Make certbot's renewal skip this certificate: `autorenew = False` in its [renewalparams].

    Certbot 5.x checks this setting before anything else when it decides whether a certificate
    is due (certbot/_internal/renewal.py, should_autorenew -> RenewableCert.autorenewal_is_enabled
    in storage.py: "If autorenew is not specified, defaults to True"), and keeps it when it
    rewrites the file (renewal.BOOL_CONFIG_ITEMS). Unlike renaming the file, the certificate
    stays visible to `certbot certificates` and `certbot delete`. The file is rewritten
    atomically with its mode kept, while holding certbot's own lock (<certbot-dir>/.certbot.lock,
    as certbot/_internal/lock.py takes it). Idempotent: returns False when it was already off.
    Raises CertbotImportError when certbot is running or the file cannot be written.
    """
    configuration = read_renewal_configuration(renewal_file)
    if configuration.flag("autorenew") is False:
        return False
    certbot_dir = renewal_file.parent.parent
    with _certbot_lock(certbot_dir):
        try:
            text = renewal_file.read_text(encoding="utf-8")
            mode = stat.S_IMODE(renewal_file.stat().st_mode)
        except OSError as err:
            raise CertbotImportError(f"cannot read {renewal_file}: {_reason(err)}") from err
        write_file_atomic(renewal_file, _with_autorenew_off(text).encode("utf-8"), mode)
    return True


def _with_autorenew_off(text: str) -> str:
    """`text` with `autorenew = False` in [renewalparams]; every other line kept as it was."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    setting = f"autorenew = False{newline}"
    header: int | None = None
    for number, line in enumerate(lines):
        content = line.rstrip("\r\n")
        section = _SECTION.match(content)
        if section:
            if header is not None:
                break  # the end of [renewalparams] (or its first subsection)
            if section.group(1).count("[") == 1 and _unquote(section.group(2)) == "renewalparams":
                header = number
            continue
        keyword = _KEYWORD.match(content)
        if header is not None and keyword and _unquote(keyword.group(1).strip()) == "autorenew":
            lines[number] = setting
            return "".join(lines)
    addition = [f"{DISABLED_MARK}{newline}", setting]
    if header is None:
        return "".join([*lines, f"[renewalparams]{newline}", *addition])
    return "".join(lines[: header + 1] + addition + lines[header + 1 :])


@contextlib.contextmanager
def _certbot_lock(certbot_dir: Path) -> Iterator[None]:
    """Hold certbot's lock on its configuration directory, as certbot does: lockf on
    .certbot.lock, checked to be the file on disk, removed before it is released."""
    path = certbot_dir / ".certbot.lock"
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        except OSError as err:
            raise CertbotImportError(f"cannot take certbot's lock {path}: {_reason(err)}") from err
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EACCES, errno.EAGAIN):
                raise CertbotImportError(
                    f"certbot is running (it holds {path}): try again when it has finished"
                ) from None
            raise CertbotImportError(f"cannot take certbot's lock {path}: {_reason(err)}") from err
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # certbot removed and recreated it meanwhile: take the new one
    try:
        yield
    finally:
        try:
            os.unlink(path)
        finally:
            os.close(fd)


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)
