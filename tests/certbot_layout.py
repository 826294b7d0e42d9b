"""Lay out a certbot configuration directory exactly as certbot 5.0 writes one.

The formats were taken from a directory that certbot 5.0.0 itself wrote against Pebble
(`certbot certonly` then `certbot renew --force-renewal`): a renewal configuration written by
configobj (a blank first line, `version`, `archive_dir`, the four live paths, then
[renewalparams] with `pref_challs = dns-01,` and `renew_hook` for --deploy-hook), live/
links relative to archive/ (`../../archive/<name>/cert2.pem`), README files, account files
with a JWK private key (mode 0400), `{"body": {}, "uri": ...}` as regr.json, and the account id
being the MD5 of the public key's PEM.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import josepy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CERTBOT_VERSION = "5.0.0"
KINDS = ("cert", "chain", "fullchain", "privkey")


@dataclass(frozen=True)
class Version:
    """One issuance: the leaf, the intermediates and the private key, all PEM."""

    cert: bytes
    chain: bytes
    privkey: bytes


def write_lineage(
    certbot_dir: Path,
    name: str,
    versions: Sequence[Version],
    params: Mapping[str, str],
) -> Path:
    """Write archive/, live/ (pointing at the last version) and renewal/<name>.conf."""
    archive = certbot_dir / "archive" / name
    live = certbot_dir / "live" / name
    for directory in (archive, live, certbot_dir / "renewal"):
        directory.mkdir(parents=True, exist_ok=True)
    for hooks in ("deploy", "post", "pre"):
        (certbot_dir / "renewal-hooks" / hooks).mkdir(parents=True, exist_ok=True)
    os.chmod(certbot_dir / "archive", 0o700)
    os.chmod(certbot_dir / "live", 0o700)
    for number, version in enumerate(versions, 1):
        contents = {
            "cert": version.cert,
            "chain": version.chain,
            "fullchain": version.cert + version.chain,
            "privkey": version.privkey,
        }
        for kind, data in contents.items():
            path = archive / f"{kind}{number}.pem"
            path.write_bytes(data)
            path.chmod(0o600 if kind == "privkey" else 0o644)
    for kind in KINDS:
        link = live / f"{kind}.pem"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(f"../../archive/{name}/{kind}{len(versions)}.pem")
    (certbot_dir / "live" / "README").write_text(
        "This directory contains your keys and certificates.\n"
    )
    (live / "README").write_text("This directory contains your keys and certificates.\n")
    lines = [
        "",
        f"version = {CERTBOT_VERSION}",
        f"archive_dir = {archive}",
        *(
            f"{kind} = {live / (kind + '.pem')}"
            for kind in ("cert", "privkey", "chain", "fullchain")
        ),
        "[renewalparams]",
        *(f"{key} = {value}" for key, value in params.items()),
    ]
    conf = certbot_dir / "renewal" / f"{name}.conf"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o644)
    return conf


def write_account(
    certbot_dir: Path, server: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, uri: str
) -> str:
    """Write accounts/<host><path>/<id>/ as certbot does; returns the account id."""
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    account_id = hashlib.md5(public_pem).hexdigest()
    parts = urlsplit(server)
    directory = certbot_dir / "accounts" / (parts.netloc + parts.path) / account_id
    directory.mkdir(parents=True)
    path = directory
    while path != certbot_dir:
        path.chmod(0o700)
        path = path.parent
    jwk = josepy.JWKRSA(key=key) if isinstance(key, rsa.RSAPrivateKey) else josepy.JWKEC(key=key)
    (directory / "meta.json").write_text(
        json.dumps({"creation_dt": "2025-01-02T03:04:05Z", "creation_host": "origin.example.com"})
    )
    (directory / "regr.json").write_text(json.dumps({"body": {}, "uri": uri}))
    private_key = directory / "private_key.json"
    private_key.write_text(jwk.json_dumps())
    private_key.chmod(0o400)
    return account_id


def pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as certbot writes privkey.pem (PKCS#8 PEM)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def tree_digest(directory: Path) -> dict[str, str]:
    """Every entry under `directory`: kind, mode and content hash, or a link's target."""
    result: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        relative = str(path.relative_to(directory))
        info = path.lstat()
        if path.is_symlink():
            result[relative] = f"link {os.readlink(path)}"
        elif path.is_dir():
            result[relative] = f"dir {info.st_mode:o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[relative] = f"file {info.st_mode:o} {info.st_mtime_ns} {digest}"
    return result
