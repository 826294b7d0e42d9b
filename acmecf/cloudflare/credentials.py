"""Cloudflare credentials: an API token, or the legacy global key pair, from a credentials
file, a systemd credential or the environment.

Every secret loaded is registered with acmecf.redaction before it can reach any output. A
credentials file that group or others may read, or that another user owns, is refused (as ssh
refuses such private keys). Never returns a secret in an error message.

Does not: talk to the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from acmecf.errors import CredentialsError
from acmecf.redaction import remember_secret
from acmecf.storage.safe import read_trusted_file

SYSTEMD_CREDENTIAL = "cloudflare-api-token"
TOKEN_FILE_VARIABLE = "CLOUDFLARE_API_TOKEN_FILE"
_FILE_KEYS = {
    "dns_cloudflare_api_token": "token",
    "cloudflare_api_token": "token",
    "dns_cloudflare_email": "email",
    "cloudflare_email": "email",
    "dns_cloudflare_api_key": "api_key",
    "cloudflare_api_key": "api_key",
}
_CREDENTIAL_TEXT = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
_FILE_LIMIT = 65536  # bytes; far more than any credentials file holds


@dataclass(frozen=True)
class Credentials:
    """Either an API token or the legacy global key pair (email + key)."""

    token: str | None = field(default=None, repr=False)
    email: str | None = None
    api_key: str | None = field(default=None, repr=False)
    source: str = "CLOUDFLARE_API_TOKEN"

    def describe(self) -> str:
        """Where the credentials came from, safe to print."""
        return self.source

    @property
    def user_key(self) -> str:
        """Who Cloudflare counts requests for (its limits are per user): the email for a global
        key, else the token (a hash of it, never the token itself)."""
        import hashlib

        basis = self.email or self.token or ""
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


def load_credentials(env: Mapping[str, str], credentials_file: Path | None) -> Credentials:
    """Cloudflare credentials from `credentials_file`, else a systemd credential, else
    $CLOUDFLARE_API_TOKEN_FILE, else the environment.

    A systemd credential is the file `cloudflare-api-token` in $CREDENTIALS_DIRECTORY, as
    `LoadCredential=cloudflare-api-token:/etc/acmecf/cloudflare-api-token` provides it; it
    holds the bare token, as does the file $CLOUDFLARE_API_TOKEN_FILE names. The credentials
    file holds `key = value` lines as certbot-dns-cloudflare writes them
    (dns_cloudflare_api_token, or dns_cloudflare_email + dns_cloudflare_api_key). Raises
    CredentialsError saying what is missing and how to fix it.
    """
    systemd_token = _systemd_credential(env)
    if credentials_file is not None:
        values = _read_credentials_file(credentials_file)
        source = f"credentials file {credentials_file}"
        if not any(values.values()):
            raise CredentialsError(
                f"the credentials file {credentials_file} holds no dns_cloudflare_api_token "
                "(nor dns_cloudflare_email + dns_cloudflare_api_key): add "
                "`dns_cloudflare_api_token = YOUR_TOKEN`"
            )
    elif systemd_token:
        values = {"token": systemd_token}
        source = f"systemd credential {SYSTEMD_CREDENTIAL}"
    elif env.get(TOKEN_FILE_VARIABLE):
        path = Path(env[TOKEN_FILE_VARIABLE])
        values = {"token": read_secret_file(path, TOKEN_FILE_VARIABLE)}
        source = f"{TOKEN_FILE_VARIABLE} {path}"
    else:
        values = {
            "token": env.get("CLOUDFLARE_API_TOKEN", ""),
            "email": env.get("CLOUDFLARE_EMAIL", ""),
            "api_key": env.get("CLOUDFLARE_API_KEY", ""),
        }
        source = (
            "CLOUDFLARE_API_TOKEN" if values["token"] else "CLOUDFLARE_EMAIL/CLOUDFLARE_API_KEY"
        )
    for key in ("token", "api_key"):
        remember_secret(values.get(key))
    token, email, api_key = (values.get(k, "").strip() for k in ("token", "email", "api_key"))
    for what, value in (("API token", token), ("API key", api_key), ("email", email)):
        if value and not _CREDENTIAL_TEXT.fullmatch(value):
            raise CredentialsError(
                f"the Cloudflare {what} from {source} contains spaces, a line break or other "
                "characters no Cloudflare credential has: store it alone, on one line"
            )
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


def _systemd_credential(env: Mapping[str, str]) -> str | None:
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / SYSTEMD_CREDENTIAL
    if not path.exists():
        return None
    return read_secret_file(path, f"the systemd credential {SYSTEMD_CREDENTIAL}")


def read_secret_file(path: Path, what: str) -> str:
    """The text of a file holding one secret (a token, a key), registered for redaction.

    Refused when another user owns it or group or others may write it (as a `*_FILE` variable
    or a container secret points at it, it may be readable by others: that is the user's
    choice). Raises CredentialsError naming `what` and the file.
    """
    data = _read_private(path, what, private=False)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CredentialsError(f"{what} {path} is not text: it must hold the token alone") from None
    remember_secret(text)
    return text


def _read_private(path: Path, what: str, *, private: bool = True) -> bytes:
    """The bytes of a credentials file: refused when another user owns it or group or others
    may write it, and (`private`) when group or others may read it."""
    data = read_trusted_file(path, what, CredentialsError, private=private, limit=_FILE_LIMIT)
    if len(data) > _FILE_LIMIT:
        raise CredentialsError(f"{what} {path} is too large to be a credentials file")
    return data


def _read_credentials_file(path: Path) -> dict[str, str]:
    data = _read_private(path, "the credentials file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialsError(
            f"the credentials file {path} is not text: expected `dns_cloudflare_api_token = ...`"
        ) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise CredentialsError(f"{path} line {number}: expected `key = value`")
        field_name = _FILE_KEYS.get(key.strip().lower())
        if field_name is not None:
            values[field_name] = value.strip().strip("'\"")
            remember_secret(values[field_name])
    return values
