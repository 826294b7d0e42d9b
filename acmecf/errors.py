"""The exception hierarchy of acmecf: every exception the package raises on purpose.

Every error a user can cause or meet is an `AcmecfError` whose message is one line that says
what went wrong and what to do about it. Errors carry their data (HTTP status, API codes, the
file and key at fault) as attributes, so callers branch on attributes, never on message text.
The CLI is the only place that turns these into exit codes. This module does not log, print
or exit.
"""

from __future__ import annotations

from collections.abc import Sequence


class AcmecfError(Exception):
    """An expected failure. `str(error)` is the single line shown to the user."""

    exit_code = 1


class UsageError(AcmecfError):
    """The command line, the environment or a configuration file asks for something invalid."""

    exit_code = 2


class InvalidNameError(UsageError):
    """A requested domain name cannot be put in a certificate."""


class CredentialsError(UsageError):
    """Cloudflare credentials are missing, unreadable or unsafely stored."""


class Interrupted(AcmecfError):
    """The run was interrupted (Ctrl-C, SIGTERM); what it had started was cleaned up."""

    exit_code = 130


# --- storage ---------------------------------------------------------------------------------


class StoreError(AcmecfError):
    """Files under the configuration directory (or the shared store) could not be read or
    written."""


class UnsafePathError(StoreError):
    """A path inside the configuration directory is a link, or writable or owned by someone
    else: acmecf refuses to follow or trust it. `path` names it."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class StoredFileError(StoreError):
    """A stored file does not match its schema. `path` and `key` name what is wrong."""

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        where = f"{path}: {key}" if key else path
        super().__init__(
            f"{where}: {problem}; fix the file (or remove it and issue the certificate again)"
        )
        self.path = path
        self.key = key
        self.problem = problem


class CertificateNotFoundError(UsageError):
    """No certificate of that name is stored."""

    def __init__(self, cert_name: str, where: str) -> None:
        super().__init__(f"no certificate named {cert_name!r} in {where}: see `acmecf list`")
        self.cert_name = cert_name


class LockedError(StoreError):
    """Another acmecf run holds the lock; `holder` describes it (a pid, or an origin)."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


# --- Cloudflare ------------------------------------------------------------------------------


class CloudflareError(AcmecfError):
    """The Cloudflare API refused or failed a request; the message carries the remedy.

    `status` is the HTTP status (None when no reply came), `codes` the API error codes of the
    reply (and of its `error_chain`), `action` what acmecf was doing.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        codes: Sequence[int] = (),
        action: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.codes = tuple(codes)
        self.action = action


class ZoneNotFoundError(CloudflareError):
    """No Cloudflare zone visible to the credentials contains a requested name."""


class CloudflareUnreachable(CloudflareError):
    """No reply from the Cloudflare API (network, timeout, 5xx) after the retries."""


class RecordMissing(CloudflareError):
    """The object to delete was not there (HTTP 404): for a delete, that counts as done."""


class RecordExists(CloudflareError):
    """An identical record already exists (codes 81057, 81058)."""


# --- DNS, ACME, certificates -----------------------------------------------------------------


class PropagationError(AcmecfError):
    """The authoritative nameservers did not serve every challenge record in time."""


class AcmeError(AcmecfError):
    """The ACME server refused a request or failed an order.

    `problem` is the RFC 8555 §6.7 problem type without its URN prefix ("badNonce",
    "rateLimited", ...) when the CA sent one; `retry_after` the seconds it asked to wait.
    """

    def __init__(
        self, message: str, *, problem: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.retry_after = retry_after


class ValidationFailed(AcmeError):
    """The CA looked for a challenge record and did not find it (RFC 8555 §8: the
    authorization is invalid for good; a new order is needed)."""


class AlreadyReplaced(AcmeError):
    """The CA refused an order's `replaces` because another order already replaced that
    certificate (RFC 9773 §5, alreadyReplaced): another machine with the same account, or a
    run whose record was lost, renewed it."""


class CertificateError(AcmecfError):
    """A certificate from the CA does not match its key, its names or its chain, or a PEM
    file cannot be read."""


# --- hooks, origin, migration ----------------------------------------------------------------


class HookError(AcmecfError):
    """A hook exited non-zero, ran past its timeout or was refused; the certificate itself is
    in place."""


class OriginError(AcmecfError):
    """The origin could not be reached or checked as asked."""


class OriginPullError(AcmecfError):
    """Origin pulls cannot be set up as asked; the message says what to do instead."""


class CertbotImportError(AcmecfError):
    """A certbot configuration cannot be taken over as it is."""


class NotConfirmed(AcmecfError):
    """The user answered no to a question (or closed its input): nothing was changed."""


class SettingError(ValueError):
    """A value does not fit its setting; `key` names it as its source spells it (a file key
    such as "certificate.names", or an environment variable). Callers wrap it in a UsageError
    or StoredFileError that names the source."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# --- the test bed ----------------------------------------------------------------------------


class PebbleError(AcmecfError):
    """The Pebble test server launcher failed (sandbox, demo and tests only)."""


class PebbleNotInstalled(PebbleError):
    """No Pebble binary (new enough) was found where the launcher looks for it."""


class PebbleStartupError(PebbleError):
    """Pebble exited or did not serve its directory in time; the message holds its log tail."""
