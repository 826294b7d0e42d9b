"""Settings from the command line, the environment and credential files, validated once.

Precedence: flags > environment > defaults (click applies the first two). This module owns
credential loading and the parsing of durations and resolver addresses; it does not talk to the
network and never returns a secret in an error message.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from acmecf.cloudflare import Credentials
from acmecf.errors import CredentialsError, UsageError
from acmecf.renewal import CertificateConfig

# Secrets seen in this process, so the error boundary and log handlers can mask them.
_SECRETS: set[str] = set()

_FILE_KEYS = {
    "dns_cloudflare_api_token": "token",
    "cloudflare_api_token": "token",
    "dns_cloudflare_email": "email",
    "cloudflare_email": "email",
    "dns_cloudflare_api_key": "api_key",
    "cloudflare_api_key": "api_key",
}


def load_credentials(env: Mapping[str, str], credentials_file: Path | None) -> Credentials:
    """Cloudflare credentials from `credentials_file`, else a systemd credential, else the
    environment.

    A systemd credential is the file `cloudflare-api-token` in $CREDENTIALS_DIRECTORY, as
    `LoadCredential=cloudflare-api-token:/etc/acmecf/cloudflare-api-token` provides it; it
    holds the bare token. The credentials file holds `key = value` lines as
    certbot-dns-cloudflare writes them (dns_cloudflare_api_token, or dns_cloudflare_email +
    dns_cloudflare_api_key); the CLOUDFLARE_* names work too. Like ssh with private keys, a
    file that group or others may read is refused. Raises CredentialsError saying what is
    missing and how to fix it.
    """
    systemd_token = _systemd_credential(env)
    if credentials_file is not None:
        values = _read_credentials_file(credentials_file)
        source = f"credentials file {credentials_file}"
    elif systemd_token:
        values = {"token": systemd_token}
        source = f"systemd credential {SYSTEMD_CREDENTIAL}"
    else:
        values = {
            "token": env.get("CLOUDFLARE_API_TOKEN", ""),
            "email": env.get("CLOUDFLARE_EMAIL", ""),
            "api_key": env.get("CLOUDFLARE_API_KEY", ""),
        }
        source = (
            "CLOUDFLARE_API_TOKEN" if values["token"] else "CLOUDFLARE_EMAIL/CLOUDFLARE_API_KEY"
        )
    token, email, api_key = (values.get(k, "").strip() for k in ("token", "email", "api_key"))
    if token:
        remember_secret(token)
        return Credentials(token=token, source=source)
    if email and api_key:
        remember_secret(api_key)
        return Credentials(email=email, api_key=api_key, source=source)
    if email or api_key:
        raise CredentialsError(
            f"incomplete Cloudflare credentials in {source}: the global API key needs both the "
            "account email and the key (better: use an API token)"
        )
    raise CredentialsError(
        "no Cloudflare credentials: set CLOUDFLARE_API_TOKEN to a token with Zone > Zone > Read "
        "and Zone > DNS > Edit, pass --cloudflare-credentials FILE, or (systemd) "
        f"LoadCredential={SYSTEMD_CREDENTIAL}:FILE"
    )


SYSTEMD_CREDENTIAL = "cloudflare-api-token"


def _systemd_credential(env: Mapping[str, str]) -> str | None:
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    try:
        return (Path(directory) / SYSTEMD_CREDENTIAL).read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as err:
        raise CredentialsError(
            f"cannot read the systemd credential {SYSTEMD_CREDENTIAL}: {err.strerror}"
        ) from err


def _read_credentials_file(path: Path) -> dict[str, str]:
    try:
        info = path.stat()
        text = path.read_text()
    except OSError as err:
        raise CredentialsError(
            f"cannot read the credentials file {path}: {err.strerror or err}"
        ) from err
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"credentials file {path} is accessible by group or others "
            f"({stat.filemode(info.st_mode)}): run `chmod 600 {path}`"
        )
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise CredentialsError(f"{path} line {number}: expected `key = value`")
        field = _FILE_KEYS.get(key.strip().lower())
        if field is not None:
            values[field] = value.strip().strip("'\"")
    return values


def remember_secret(secret: str) -> None:
    if len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """`text` with every known secret replaced by '***'."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def parse_resolvers(values: Iterable[str]) -> list[tuple[str, int]]:
    """`HOST[:PORT]` (or `[IPv6]:PORT`) strings, comma- or space-separated, as (host, port)."""
    result: list[tuple[str, int]] = []
    for value in values:
        for item in re.split(r"[,\s]+", value.strip()):
            if item:
                result.append(_host_port(item, 53, "--dns-resolver"))
    return result


_HOST_PORT = re.compile(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\s]+)(?::(\d+))?|([0-9a-fA-F:]+)")


def _host_port(item: str, default_port: int, option: str) -> tuple[str, int]:
    match = re.fullmatch(
        r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\s]+)(?::(\d+))?|([0-9a-fA-F:]+)", item
    )
    if not match:
        raise UsageError(f"invalid {option} {item!r}: expected HOST or HOST:PORT")
    host = match.group(1) or match.group(3) or match.group(5)
    port_text = match.group(2) or match.group(4)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise UsageError(f"invalid {option} {item!r}: port out of range")
    return host, port


def parse_duration(text: str, option: str) -> float:
    """Seconds from `90`, `90s`, `5m` or `1h`. Raises UsageError for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text.lower())
    if not match:
        raise UsageError(f"invalid {option} {text!r}: use seconds, or a number with s, m or h")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds <= 0:
        raise UsageError(f"invalid {option} {text!r}: must be more than zero")
    return seconds


def cloudflare_budget(env: Mapping[str, str]) -> tuple[int, float]:
    """Requests allowed per window for one token: Cloudflare's 1200 per 300 s, unless
    ACMECF_CLOUDFLARE_BUDGET ("N/SECONDS") says otherwise (accounts with other limits)."""
    text = env.get("ACMECF_CLOUDFLARE_BUDGET", "").strip()
    if not text:
        return 1200, 300.0
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", text)
    if not match or int(match.group(1)) < 1:
        raise UsageError(
            f"invalid ACMECF_CLOUDFLARE_BUDGET {text!r}: expected REQUESTS/SECONDS, e.g. 1200/300"
        )
    return int(match.group(1)), float(match.group(2))


def environment() -> Mapping[str, str]:
    return os.environ


def apply_environment(certificate: CertificateConfig, env: Mapping[str, str]) -> CertificateConfig:
    """`certificate` with the settings the environment overrides (environment > stored file).

    ACMECF_SERVER, ACMECF_CA_BUNDLE, ACMECF_DNS_RESOLVER and ACMECF_NAMESERVER_PORT, as the
    same flags of `acmecf issue` read them.
    """
    changes: dict[str, object] = {}
    if env.get("ACMECF_SERVER"):
        changes["server"] = env["ACMECF_SERVER"]
    if env.get("ACMECF_CA_BUNDLE"):
        changes["ca_bundle"] = env["ACMECF_CA_BUNDLE"]
    if env.get("ACMECF_DNS_RESOLVER"):
        changes["dns_resolvers"] = tuple(env["ACMECF_DNS_RESOLVER"].split())
    if env.get("ACMECF_NAMESERVER_PORT"):
        try:
            changes["nameserver_port"] = int(env["ACMECF_NAMESERVER_PORT"])
        except ValueError as err:
            raise UsageError("ACMECF_NAMESERVER_PORT must be a port number") from err
    return dataclasses.replace(certificate, **changes) if changes else certificate  # type: ignore[arg-type]
