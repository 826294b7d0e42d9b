"""Which store holds the certificates: this machine's configuration directory, or an etcd
cluster that a fleet of origins shares.

    [store]                                   # in <config-dir>/acmecf.toml
    url = "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/acmecf/"
    key_file = "/etc/acmecf/store.key"        # the fleet key: the same 32 bytes on every origin
    etcd_ca_file = "/etc/acmecf/etcd-ca.pem"  # TLS: the CA that signed the members' certificates
    etcd_cert_file = "/etc/acmecf/etcd-client.pem"    # a client certificate, and its key
    etcd_key_file = "/etc/acmecf/etcd-client.key"
    etcd_user = "acmecf"                      # etcd's user/password auth, the password in a file
    etcd_password_file = "/etc/acmecf/etcd-password"
    origin = "web1"                           # this origin's name in the store (default: host name)
    lease_ttl = "30s"                         # how long a dead origin's locks outlive it
    timeout = "10s"                           # each etcd call, failover between members included
    lock_wait = "10m"                         # how long to wait while another origin renews

Precedence, highest first: the command line (--store, --store-key-file), the environment
(ACMECF_STORE, ACMECF_STORE_KEY_FILE, ACMECF_ETCD_CA_FILE, ACMECF_ETCD_CERT_FILE,
ACMECF_ETCD_KEY_FILE, ACMECF_ETCD_USER, ACMECF_ETCD_PASSWORD_FILE, ACMECF_STORE_ORIGIN), for
the fleet key the systemd credential `acmecf-store-key` (LoadCredential=), then [store] here.
`url = "files"` (or no url) is the configuration directory. Relative paths in [store] are
relative to the configuration directory.

Does not: read key or password files, or connect (storage.selection does).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acmecf.errors import StoredFileError, UsageError
from acmecf.settings.values import parse_duration

FILES = "files"
DEFAULT_PREFIX = "/acmecf/"
DEFAULT_LEASE_TTL = 30
DEFAULT_TIMEOUT = 10.0
# A waiting origin waits for the holder's renewal, which DNS and the CA may stretch to minutes;
# a holder that dies frees its locks within the lease's TTL, so waiting never hangs for good.
DEFAULT_LOCK_WAIT = 600.0
MIN_LEASE_TTL = 2  # etcd's own minimum, with its default election timeout
SYSTEMD_CREDENTIAL = "acmecf-store-key"
URL_FORM = "etcd://HOST:PORT[,HOST:PORT...]/PREFIX"

KEYS = (
    "url",
    "key_file",
    "etcd_ca_file",
    "etcd_cert_file",
    "etcd_key_file",
    "etcd_user",
    "etcd_password_file",
    "origin",
    "lease_ttl",
    "timeout",
    "lock_wait",
)
ENVIRONMENT = {
    "url": "ACMECF_STORE",
    "key_file": "ACMECF_STORE_KEY_FILE",
    "etcd_ca_file": "ACMECF_ETCD_CA_FILE",
    "etcd_cert_file": "ACMECF_ETCD_CERT_FILE",
    "etcd_key_file": "ACMECF_ETCD_KEY_FILE",
    "etcd_user": "ACMECF_ETCD_USER",
    "etcd_password_file": "ACMECF_ETCD_PASSWORD_FILE",
    "origin": "ACMECF_STORE_ORIGIN",
}
_ORIGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True)
class StoreSettings:
    """The store chosen. `endpoints` empty: the configuration directory (the rest unused).

    `key_file` is the fleet key's file (None: none given), `key_source` how it was given (for
    messages); `source` says where the url came from.
    """

    endpoints: tuple[str, ...] = ()
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    key_file: Path | None = None
    key_source: str = ""
    ca_file: Path | None = None
    cert_file: Path | None = None
    client_key_file: Path | None = None
    user: str | None = None
    password_file: Path | None = None
    origin: str = ""
    lease_ttl: int = DEFAULT_LEASE_TTL
    timeout: float = DEFAULT_TIMEOUT
    lock_wait: float = DEFAULT_LOCK_WAIT
    source: str = ""

    @property
    def shared(self) -> bool:
        return bool(self.endpoints)

    @property
    def url(self) -> str:
        if not self.endpoints:
            return FILES
        return f"{'etcds' if self.tls else 'etcd'}://{','.join(self.endpoints)}{self.prefix}"


def parse_store_url(text: str, source: str) -> tuple[tuple[str, ...], str, bool]:
    """(endpoints, prefix, tls) of `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (`etcds://` for
    TLS), or ((), "", False) for "files". Raises UsageError naming `source`."""
    value = text.strip()
    if value.lower() in ("", FILES):
        return (), "", False
    scheme, separator, rest = value.partition("://")
    if not separator or scheme.lower() not in ("etcd", "etcds"):
        raise UsageError(
            f"invalid {source} {text!r}: give {URL_FORM} (or `files` for the configuration "
            "directory)"
        )
    hosts, slash, path = rest.partition("/")
    endpoints = tuple(item.strip() for item in hosts.split(",") if item.strip())
    if not endpoints:
        raise UsageError(f"invalid {source} {text!r}: name at least one HOST:PORT ({URL_FORM})")
    from acmecf.settings.values import parse_host_port

    for endpoint in endpoints:
        try:
            parse_host_port(endpoint, 2379)
        except ValueError as err:
            raise UsageError(f"invalid {source} {text!r}: {err} ({URL_FORM})") from None
    prefix = "/" + path.strip("/") + "/" if slash and path.strip("/") else DEFAULT_PREFIX
    if any(not c.isprintable() or c.isspace() for c in prefix):
        raise UsageError(f"invalid {source} {text!r}: the prefix has spaces or control characters")
    return endpoints, prefix, scheme.lower() == "etcds"


def store_settings(
    *,
    url: str | None,
    key_file: str | None,
    environment: Mapping[str, str],
    section: Mapping[str, Any],
    config_path: str,
    config_dir: Path,
) -> StoreSettings:
    """The store the command line (`url`, `key_file`), the environment and the [store] section
    of the file at `config_path` choose. Raises UsageError or StoredFileError."""
    for key in section:
        if key not in KEYS:
            raise StoredFileError(
                config_path, f"store.{key}", f"is not a [store] setting ({', '.join(KEYS)})"
            )

    def pick(key: str, given: str | None = None, flag: str = "") -> tuple[Any, str]:
        if given is not None and str(given).strip():
            return str(given), flag
        variable = ENVIRONMENT.get(key)
        if variable and environment.get(variable, "").strip():
            return environment[variable].strip(), variable
        if key in section:
            return section[key], f"store.{key} in {config_path}"
        return None, ""

    url_value, url_source = pick("url", url, "--store")
    if url_value is not None and not isinstance(url_value, str):
        raise StoredFileError(config_path, "store.url", f"must be a string ({URL_FORM})")
    endpoints, prefix, tls = parse_store_url(url_value or "", url_source or "--store")
    if not endpoints:
        return StoreSettings(source=url_source)

    def path_of(key: str, given: str | None = None, flag: str = "") -> tuple[Path | None, str]:
        value, where = pick(key, given, flag)
        if value is None:
            return None, ""
        if not isinstance(value, str) or not value.strip():
            raise StoredFileError(config_path, f"store.{key}", "must be a file path")
        path = Path(value)
        return (path if path.is_absolute() else config_dir / path), where

    key_path, key_source = path_of("key_file", key_file, "--store-key-file")
    credentials = environment.get("CREDENTIALS_DIRECTORY", "")
    if key_source in ("", f"store.key_file in {config_path}") and credentials:
        credential = Path(credentials) / SYSTEMD_CREDENTIAL
        if credential.exists():
            key_path, key_source = credential, f"systemd credential {SYSTEMD_CREDENTIAL}"
    ca_file, _ = path_of("etcd_ca_file")
    cert_file, _ = path_of("etcd_cert_file")
    client_key, _ = path_of("etcd_key_file")
    password_file, _ = path_of("etcd_password_file")
    user, _ = pick("etcd_user")
    if user is not None and (not isinstance(user, str) or not user.strip()):
        raise StoredFileError(config_path, "store.etcd_user", "must be a user name")
    origin_value, origin_source = pick("origin")
    origin = str(origin_value) if origin_value is not None else _host_name()
    if not _ORIGIN.fullmatch(origin):
        raise UsageError(
            f"invalid origin name {origin!r} ({origin_source or 'the host name'}): use letters, "
            "digits, dots, hyphens and underscores (set [store] origin in acmecf.toml)"
        )
    return StoreSettings(
        endpoints=endpoints,
        prefix=prefix,
        tls=tls or any(p is not None for p in (ca_file, cert_file, client_key)),
        key_file=key_path,
        key_source=key_source,
        ca_file=ca_file,
        cert_file=cert_file,
        client_key_file=client_key,
        user=user.strip() if isinstance(user, str) else None,
        password_file=password_file,
        origin=origin,
        lease_ttl=round(
            _seconds(section, "lease_ttl", DEFAULT_LEASE_TTL, config_path, MIN_LEASE_TTL)
        ),
        timeout=_seconds(section, "timeout", DEFAULT_TIMEOUT, config_path, 0.5),
        lock_wait=_seconds(section, "lock_wait", DEFAULT_LOCK_WAIT, config_path, 0.0),
        source=url_source,
    )


def _seconds(
    section: Mapping[str, Any], key: str, default: float, config_path: str, minimum: float
) -> float:
    if key not in section:
        return default
    try:
        seconds = parse_duration(section[key], allow_zero=True)
    except ValueError as err:
        raise StoredFileError(config_path, f"store.{key}", str(err)) from None
    if seconds < minimum:
        raise StoredFileError(config_path, f"store.{key}", f"must be at least {minimum:g} s")
    return seconds


def _host_name() -> str:
    """This machine's name, up to the first dot."""
    return socket.gethostname().split(".", 1)[0] or "origin"
