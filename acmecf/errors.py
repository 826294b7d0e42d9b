"""The exception hierarchy of acmecf.

Every error a user can cause or meet is an `AcmecfError` whose message is one line that says
what went wrong and what to do about it. The CLI is the only place that turns these into exit
codes. This module does not log, print or exit.
"""

from __future__ import annotations


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


class CloudflareError(AcmecfError):
    """The Cloudflare API refused or failed a request; the message carries the remedy."""


class ZoneNotFoundError(CloudflareError):
    """No Cloudflare zone visible to the credentials contains a requested name."""


class PropagationError(AcmecfError):
    """The authoritative nameservers did not serve every challenge record in time."""


class AcmeError(AcmecfError):
    """The ACME server refused a request or failed an order."""


class CertificateError(AcmecfError):
    """A certificate from the CA does not match its key, its names or its chain."""


class StoreError(AcmecfError):
    """Files under the configuration directory could not be read or written."""


class Interrupted(AcmecfError):
    """The run was interrupted (Ctrl-C, SIGTERM); what it had started was cleaned up."""

    exit_code = 130
