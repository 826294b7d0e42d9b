"""The files a certificate's settings ask for besides the four PEM files, and who may read its
key: checked before anything is ordered, built once the certificate is there.

`plan_outputs` resolves the key group and reads the PKCS#12 password, so that a group that does
not exist or an unreadable password file fails the certificate before the CA is asked;
`output_files` turns the plan and the issued certificate into what the store writes.

Does not: write files (storage does), or decide anything about the certificate.
"""

from __future__ import annotations

import grp
from dataclasses import dataclass, field
from pathlib import Path

from acmecf.errors import UsageError
from acmecf.settings.table import CertificateSettings
from acmecf.storage.model import OutputFiles


@dataclass(frozen=True)
class OutputPlan:
    combined: bool = False
    pkcs12: bool = False
    pkcs12_password: str | None = field(default=None, repr=False)
    key_gid: int | None = None


def group_id(name: str) -> int:
    """The id of the group `name`; UsageError when this machine has no such group."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise UsageError(
            f"there is no group {name!r} on this machine: create it (groupadd {name}) or "
            "give --key-group an existing one"
        ) from None


def pkcs12_password(settings: CertificateSettings) -> str | None:
    """The password of cert.p12 from its file (registered for redaction), or None."""
    if not settings.pkcs12 or settings.pkcs12_password_file is None:
        return None
    from acmecf.cloudflare.credentials import read_secret_file
    from acmecf.errors import CredentialsError

    try:
        password = read_secret_file(
            Path(settings.pkcs12_password_file), "the --pkcs12-password-file"
        )
    except CredentialsError as err:
        raise UsageError(str(err)) from err
    if not password:
        raise UsageError(
            f"the --pkcs12-password-file {settings.pkcs12_password_file} is empty: put the "
            "password in it, or leave the option out for a cert.p12 without one"
        )
    return password


def plan_outputs(settings: CertificateSettings) -> OutputPlan:
    """What `settings` ask for, checked. Raises UsageError."""
    return OutputPlan(
        combined=settings.combined,
        pkcs12=settings.pkcs12,
        pkcs12_password=pkcs12_password(settings),
        key_gid=group_id(settings.key_group) if settings.key_group else None,
    )


def output_files(
    plan: OutputPlan, name: str, key_pem: bytes, cert_pem: bytes, chain_pem: bytes
) -> OutputFiles:
    """What the store is to write besides the four PEM files of one new version."""
    pkcs12 = None
    if plan.pkcs12:
        from acmecf.pki.bundles import pkcs12_bundle

        pkcs12 = pkcs12_bundle(name, key_pem, cert_pem, chain_pem, plan.pkcs12_password)
    return OutputFiles(combined=plan.combined, pkcs12=pkcs12, key_gid=plan.key_gid)
