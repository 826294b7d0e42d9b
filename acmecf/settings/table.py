"""The one settings table: every setting a certificate remembers, declared once.

Each `Setting` names its type (a `Kind` that parses and checks values from a stored file, an
environment variable or the command line), its default, its command-line flag, its environment
variable and its place in the stored file. `CertificateSettings` holds one certificate's
values; `settings_from_mapping` checks a stored file's tables against the table, `to_mapping`
writes them back, `environment_overrides` reads the variables, and `merge` applies the
precedence: flags > environment > stored > defaults.

Never holds a secret: Cloudflare credentials are a file path, or "from the environment".
Does not read files, the environment or the command line itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acmecf.errors import SettingError
from acmecf.settings.values import (
    check_https_url,
    check_printable,
    parse_bool,
    parse_duration,
    parse_host_port,
)

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
ISSUER_ACME = "acme"
ISSUER_ORIGIN_CA = "cloudflare-origin-ca"
ISSUERS = (ISSUER_ACME, ISSUER_ORIGIN_CA)
CHALLENGE_DNS_01 = "dns-01"
CHALLENGE_DNS_PERSIST_01 = "dns-persist-01"
CHALLENGES = (CHALLENGE_DNS_01, CHALLENGE_DNS_PERSIST_01)
# The validities Cloudflare's Origin CA signs for, in days.
# https://developers.cloudflare.com/api/resources/origin_ca_certificates/methods/create/
ORIGIN_CA_VALIDITIES = (7, 30, 90, 365, 730, 1095, 5475)
KEEP_VERSIONS = 5
DNS_CHECKS = ("authoritative", "resolver", "none")  # as dns.propagation names them
# After every nameserver serves the records: a pause for the CA's far view (README, "How it
# waits for DNS"), and the fixed wait of --dns-check none.
PROPAGATION_SETTLE = 5.0
PROPAGATION_DELAY = 60.0


# --- kinds of values ---------------------------------------------------------------------------


class Kind:
    """How one setting's values are parsed and checked. `parse` takes a value as a stored file
    (TOML) holds it, `parse_text` one from an environment variable; both raise ValueError with
    the problem. `multiple` settings hold a tuple; `flag` ones a bool."""

    multiple = False
    flag = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    def parse(self, value: object) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {_type_name(value)}")
        return self.check(value)

    def parse_text(self, text: str) -> Any:
        return self.check(text)

    def check(self, text: str) -> Any:
        return check_printable(text)

    def to_stored(self, value: Any) -> Any:
        return value


class Text(Kind):
    def __init__(self, check: Callable[[str], str] | None = None, metavar: str = "TEXT") -> None:
        self._check = check
        self.metavar = metavar

    def check(self, text: str) -> Any:
        text = check_printable(text)
        return self._check(text) if self._check else text


class Choice(Kind):
    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = tuple(choices)

    def check(self, text: str) -> Any:
        if text not in self.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
        return text


class Flag(Kind):
    flag = True

    def parse(self, value: object) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {_type_name(value)}")
        return value

    def parse_text(self, text: str) -> Any:
        return parse_bool(text)


class Port(Kind):
    metavar = "PORT"

    def parse(self, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a port number, not {_type_name(value)}")
        if not 0 < value < 65536:
            raise ValueError(f"{value} is not a port number (1-65535)")
        return value

    def parse_text(self, text: str) -> Any:
        try:
            return self.parse(int(text))
        except ValueError:
            raise ValueError(f"{text!r} is not a port number (1-65535)") from None


class Seconds(Kind):
    """A duration, stored as seconds; typed as 90, 90s, 5m or 1h (0 only with `allow_zero`)."""

    metavar = "DURATION"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def parse(self, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"must be a duration, not {_type_name(value)}")
        return parse_duration(value, allow_zero=self.allow_zero)

    def check(self, text: str) -> Any:
        return parse_duration(text, allow_zero=self.allow_zero)


class Strings(Kind):
    """A list of values of `item` kind, stored as a TOML array of strings (a bare string is
    refused: it is not a list with one command, it is a mistake)."""

    multiple = True

    def __init__(self, item: Kind, *, separator: str | None = None) -> None:
        self.item = item
        self.metavar = item.metavar
        self._separator = separator  # how an environment variable separates values; None: one

    def parse(self, value: object) -> Any:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of strings, not {_type_name(value)}")
        return tuple(self.item.parse(entry) for entry in value)

    def parse_text(self, text: str) -> Any:
        if self._separator is None:
            return (self.item.parse_text(text),) if text.strip() else ()
        return tuple(self.item.parse_text(part) for part in text.replace(",", " ").split() if part)

    def to_stored(self, value: Any) -> Any:
        return list(value)


class Count(Kind):
    """A whole number from `minimum` to `maximum`, stored as a TOML integer."""

    def __init__(self, minimum: int, maximum: int, metavar: str = "N") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.metavar = metavar

    def parse(self, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, not {_type_name(value)}")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{value} is not from {self.minimum} to {self.maximum}")
        return value

    def parse_text(self, text: str) -> Any:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        return self.parse(number)


class Days(Kind):
    """A number of days out of a fixed list (`choices`, as text for --help), stored as an
    integer."""

    metavar = "DAYS"

    def __init__(self, days: Iterable[int]) -> None:
        self.days = tuple(days)
        self.choices = tuple(str(day) for day in self.days)

    def parse(self, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.days:
            raise ValueError(f"{value!r} is not one of {', '.join(self.choices)} days")
        return value

    def parse_text(self, text: str) -> Any:
        try:
            return self.parse(int(text.strip()))
        except ValueError:
            raise ValueError(f"{text!r} is not one of {', '.join(self.choices)} days") from None


def _names(text: str) -> str:
    from acmecf.errors import InvalidNameError
    from acmecf.names import normalize_name

    try:
        normalized = normalize_name(text)
    except InvalidNameError as err:
        raise ValueError(str(err)) from None
    if normalized != text:
        raise ValueError(f"{text!r} is not written as acmecf writes names ({normalized!r})")
    return text


def _absolute_path(text: str) -> str:
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not an absolute path")
    return text


def _group(text: str) -> str:
    # The syntax of a group name (useradd(8)); whether it exists is checked where it is used.
    if not text or len(text) > 32 or not all(c.isalnum() or c in "._-" for c in text):
        raise ValueError(f"{text!r} is not a group name")
    if text.startswith("-"):
        raise ValueError(f"{text!r} is not a group name")
    return text


def _zone_id(text: str) -> str:
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{text!r} is not a zone id (32 hexadecimal digits)")
    return text


def _host_port(text: str) -> str:
    parse_host_port(text, 53)
    return text


def _command(text: str) -> str:
    if not text.strip():
        raise ValueError("is an empty command")
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"{text!r} spans several lines")
    return text


class Command(Kind):
    metavar = "CMD"

    def check(self, text: str) -> Any:
        return _command(text)


def _type_name(value: object) -> str:
    return {str: "a string", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), f"a {type(value).__name__}"
    )


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One stored setting: `name` is its attribute, its key in the stored file (`key` when that
    differs) and, upper-cased, its `ACMECF_` environment variable (`env` when that differs;
    empty for none). `flag` is its `acmecf issue` option (None: set another way).
    `new_certificate`: a change of it needs a new certificate (it changes what the CA signs);
    any other change is stored and applies from the next renewal on."""

    name: str
    kind: Kind
    default: Any
    help: str
    flag: str | None
    section: str = "certificate"
    key: str | None = None
    env: str | None = None
    new_certificate: bool = False

    @property
    def stored_key(self) -> str:
        return self.key or self.name

    @property
    def environment_variable(self) -> str | None:
        if self.env == "":
            return None
        return self.env or f"ACMECF_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("names", Strings(Text(_names, "NAME")), (), "The certificate's names.", None, env=""),
    Setting(
        "key_type",
        Choice(KEY_TYPES),
        "ecdsa-p256",
        "Type of the certificate's private key.",
        "--key-type",
        new_certificate=True,
    ),
    Setting(
        "server",
        Text(check_https_url, "URL"),
        LETSENCRYPT,
        "ACME directory URL. Default: Let's Encrypt production.",
        "--server",
        new_certificate=True,
    ),
    Setting(
        "email", Text(metavar="EMAIL"), None, "Contact address for the ACME account.", "--email"
    ),
    Setting(
        "ca_bundle",
        Text(_absolute_path, "PEM"),
        None,
        "Trust this CA for the ACME server's HTTPS (private CAs).",
        "--ca-bundle",
    ),
    Setting(
        "credentials_file",
        Text(_absolute_path, "FILE"),
        None,
        "File with dns_cloudflare_api_token = ... (mode 600). Default: CLOUDFLARE_API_TOKEN, "
        "or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.",
        "--cloudflare-credentials",
        env="ACMECF_CLOUDFLARE_CREDENTIALS",
    ),
    Setting(
        "zone_id",
        Text(_zone_id, "ID"),
        None,
        "Cloudflare zone id of every name; lets a token with only DNS > Edit work.",
        "--zone-id",
    ),
    Setting(
        "dns_resolvers",
        Strings(Text(_host_port, "HOST[:PORT]"), separator=" "),
        (),
        "Resolver for finding zones and nameservers (repeatable). Default: the system's.",
        "--dns-resolver",
        env="ACMECF_DNS_RESOLVER",
    ),
    Setting(
        "nameserver_port",
        Port(),
        None,
        "Port on which authoritative nameservers are asked (test beds). Default: 53.",
        "--nameserver-port",
    ),
    Setting(
        "propagation_timeout",
        Seconds(),
        180.0,
        "Give up when DNS does not serve every record by then (e.g. 90s, 5m).",
        "--propagation-timeout",
    ),
    Setting(
        "dns_check",
        Choice(DNS_CHECKS),
        "authoritative",
        "How to tell that DNS serves the records: ask every authoritative nameserver "
        "(authoritative), poll the resolver (resolver: the system's, or --dns-resolver; for "
        "hosts that may not send DNS queries elsewhere), or wait --propagation-delay (none).",
        "--dns-check",
    ),
    Setting(
        "propagation_settle",
        Seconds(allow_zero=True),
        PROPAGATION_SETTLE,
        "Wait this long more once DNS serves every record, for the CA's resolvers elsewhere "
        "(e.g. 5s, 0 for none).",
        "--propagation-settle",
    ),
    Setting(
        "propagation_delay",
        Seconds(),
        PROPAGATION_DELAY,
        "With --dns-check none: how long to wait after publishing (e.g. 60s, 2m).",
        "--propagation-delay",
    ),
    Setting(
        "validation_timeout",
        Seconds(),
        300.0,
        "Give up when the CA has not validated the names and issued the certificate by then.",
        "--validation-timeout",
    ),
    Setting(
        "issuer",
        Choice(ISSUERS),
        ISSUER_ACME,
        "Who signs: the ACME CA (--server), or Cloudflare's Origin CA through the API "
        "(trusted only by Cloudflare's edge; key types ecdsa-p256 or rsa-2048).",
        "--issuer",
        new_certificate=True,
    ),
    Setting(
        "reuse_key",
        Flag(),
        False,
        "Keep the private key across renewals (for key pinning). Default: a new key each time.",
        "--reuse-key/--no-reuse-key",
    ),
    Setting(
        "preferred_chain",
        Text(metavar="ISSUER_CN"),
        None,
        "Prefer the alternate chain whose top certificate was issued by this CA name.",
        "--preferred-chain",
        new_certificate=True,
    ),
    Setting(
        "profile",
        Text(metavar="NAME"),
        None,
        "ACME certificate profile the CA must offer, e.g. Let's Encrypt's classic (90 days), "
        "tlsserver (45 days) or shortlived (160 hours).",
        "--profile",
        new_certificate=True,
    ),
    Setting(
        "preferred_profile",
        Text(metavar="NAME"),
        None,
        "ACME certificate profile to use when the CA offers it; otherwise the CA's default, "
        "with a notice.",
        "--preferred-profile",
        new_certificate=True,
    ),
    Setting(
        "must_staple",
        Flag(),
        False,
        "Ask for the OCSP Must-Staple feature (not with Let's Encrypt, which no longer issues it).",
        "--must-staple/--no-must-staple",
        new_certificate=True,
    ),
    Setting(
        "challenge",
        Choice(CHALLENGES),
        CHALLENGE_DNS_01,
        "How the CA checks the names: dns-01 publishes a TXT record through Cloudflare for "
        "each order; dns-persist-01 relies on the records `acmecf persist setup` published "
        "once, and needs no Cloudflare credentials.",
        "--challenge",
    ),
    Setting(
        "deploy_hooks",
        Strings(Command()),
        (),
        "Shell command run after this certificate is issued or renewed (repeatable).",
        "--deploy-hook",
        section="hooks",
        key="deploy",
        env="ACMECF_DEPLOY_HOOK",
    ),
    Setting(
        "failure_hooks",
        Strings(Command()),
        (),
        "Shell command run when issuing or renewing this certificate fails, with "
        "ACMECF_CERT_NAME, ACMECF_DOMAINS and ACMECF_ERROR set (repeatable).",
        "--failure-hook",
        section="hooks",
        key="failure",
        env="ACMECF_FAILURE_HOOK",
    ),
    Setting(
        "combined",
        Flag(),
        False,
        "Also write combined.pem: the private key, then the full chain (HAProxy, lighttpd, "
        "ZNC). Same mode as the key.",
        "--combined/--no-combined",
        section="files",
    ),
    Setting(
        "pkcs12",
        Flag(),
        False,
        "Also write cert.p12 (PKCS#12: key, certificate and chain, for Java and Windows), "
        "encrypted with the password in --pkcs12-password-file (without one: no password).",
        "--pkcs12/--no-pkcs12",
        section="files",
    ),
    Setting(
        "pkcs12_password_file",
        Text(_absolute_path, "FILE"),
        None,
        "File holding the password of cert.p12 (read at each renewal; the password itself is "
        "never stored).",
        "--pkcs12-password-file",
        section="files",
    ),
    Setting(
        "key_group",
        Text(_group, "GROUP"),
        None,
        "Let this group read the key: privkey.pem (and combined.pem, cert.p12) 0640 and the "
        "certificate's directories 0750, group GROUP (e.g. ssl-cert). The group must exist.",
        "--key-group",
        section="files",
    ),
    Setting(
        "keep_versions",
        Count(0, 1000),
        KEEP_VERSIONS,
        "Keep this many versions of the certificate (the live one included) and delete older "
        "ones, keys first, after each renewal. 0 keeps every version.",
        "--keep-versions",
        section="files",
    ),
    Setting(
        "origin_ca_validity",
        Days(ORIGIN_CA_VALIDITIES),
        365,
        "With --issuer cloudflare-origin-ca: how many days the certificate is valid.",
        "--origin-ca-validity",
        new_certificate=True,
    ),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
SECTIONS = ("certificate", "hooks", "files")


@dataclass(frozen=True)
class CertificateSettings:
    """How a certificate is issued: everything `acmecf renew` needs to do it again. One field
    per entry of SETTINGS (a unit test keeps them in step), plus the certificate's name."""

    cert_name: str
    names: tuple[str, ...]
    key_type: str = "ecdsa-p256"
    server: str = LETSENCRYPT
    email: str | None = None
    ca_bundle: str | None = None
    credentials_file: str | None = None
    zone_id: str | None = None
    dns_resolvers: tuple[str, ...] = ()
    nameserver_port: int | None = None
    propagation_timeout: float = 180.0
    dns_check: str = "authoritative"
    propagation_settle: float = PROPAGATION_SETTLE
    propagation_delay: float = PROPAGATION_DELAY
    validation_timeout: float = 300.0
    issuer: str = ISSUER_ACME
    reuse_key: bool = False
    preferred_chain: str | None = None
    profile: str | None = None
    preferred_profile: str | None = None
    must_staple: bool = False
    challenge: str = CHALLENGE_DNS_01
    deploy_hooks: tuple[str, ...] = ()
    failure_hooks: tuple[str, ...] = ()
    combined: bool = False
    pkcs12: bool = False
    pkcs12_password_file: str | None = None
    key_group: str | None = None
    keep_versions: int = KEEP_VERSIONS
    origin_ca_validity: int = 365


def settings_from_mapping(cert_name: str, tables: Mapping[str, Any]) -> CertificateSettings:
    """The settings a stored file's tables hold (`tables["certificate"]`, `tables["hooks"]`).

    Every value is checked against its setting; a missing value takes the default (except
    `names`, which is required); an unknown key is refused (a typo would otherwise be ignored
    silently). Raises SettingError naming the key ("certificate.names") and the problem.
    """
    values: dict[str, Any] = {}
    for section in SECTIONS:
        table = tables.get(section, {})
        if not isinstance(table, Mapping):
            raise SettingError(section, f"must be a table, not {_type_name(table)}")
        known = {s.stored_key for s in SETTINGS if s.section == section}
        for key in table:
            if key not in known:
                raise SettingError(f"{section}.{key}", "is not a setting acmecf knows")
    for setting in SETTINGS:
        table = tables.get(setting.section, {})
        key = f"{setting.section}.{setting.stored_key}"
        if setting.stored_key not in table:
            if setting.name == "names":
                raise SettingError(key, "is missing")
            continue
        try:
            values[setting.name] = setting.kind.parse(table[setting.stored_key])
        except ValueError as err:
            raise SettingError(key, str(err)) from err
    names = values.get("names")
    if not names:
        raise SettingError("certificate.names", "must name at least one domain")
    from acmecf.errors import InvalidNameError
    from acmecf.names import normalize_names

    try:
        normalize_names(list(names))
    except InvalidNameError as err:
        raise SettingError("certificate.names", str(err)) from err
    return CertificateSettings(cert_name=cert_name, **values)


def to_mapping(settings: CertificateSettings) -> dict[str, dict[str, Any]]:
    """The stored file's tables for `settings` (values equal to None are left out)."""
    tables: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        if value is not None:
            tables[setting.section][setting.stored_key] = setting.kind.to_stored(value)
    return tables


def environment_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets (`ACMECF_<NAME>`), parsed. An empty variable counts as
    unset. Raises SettingError naming the variable."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        variable = setting.environment_variable
        if variable is None:
            continue
        text = env.get(variable, "")
        if not text.strip():
            continue
        try:
            values[setting.name] = setting.kind.parse_text(text)
        except ValueError as err:
            raise SettingError(variable, str(err)) from err
    return values


def merge(base: CertificateSettings, *layers: Mapping[str, Any]) -> CertificateSettings:
    """`base` with each layer's values applied in turn (later layers win). Unknown names raise
    KeyError: a caller's mistake, not a user's."""
    changes: dict[str, Any] = {}
    for layer in layers:
        for name, value in layer.items():
            if name not in BY_NAME:
                raise KeyError(name)
            changes[name] = value
    return dataclasses.replace(base, **changes) if changes else base


def defaults(cert_name: str, names: tuple[str, ...]) -> CertificateSettings:
    """A new certificate's settings before any option is applied."""
    return CertificateSettings(cert_name=cert_name, names=names)
