"""The configuration directory on disk: accounts, certificate versions and the live links.

Layout (all directories 0700, private keys 0600)::

    <config>/renewal/<cert-name>.toml      how it is issued, and its renewal state
    <config>/hooks/deploy/                 executables run after every issue or renewal
    <config>/.lock                         held by the one acmecf run that may write
    <config>/accounts/<server>/key.pem, account.json
    <config>/archive/<cert-name>/<version>/cert.pem, chain.pem, fullchain.pem, privkey.pem
    <config>/live/<cert-name> -> ../archive/<cert-name>/<version>

A version directory is complete and fsynced before `live/<cert-name>` is switched to it by one
rename, so a reader sees either the old pair of key and certificate or the new one, never a mix,
and a failed run leaves the live files as they were. This module owns every path detail; it
does not know ACME or Cloudflare.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from acmecf.errors import StoreError, UsageError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from acmecf.renewal import CertificateState, StoredCertificate

CERT_FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def default_config_dir() -> Path:
    """/etc/acmecf for root; $XDG_CONFIG_HOME/acmecf (or ~/.config/acmecf) for anyone else."""
    if os.geteuid() == 0:
        return Path("/etc/acmecf")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "acmecf"


def check_cert_name(name: str) -> str:
    """Return `name` when it is safe as a directory name; raise UsageError otherwise."""
    if not _CERT_NAME.match(name) or name in (".", ".."):
        raise UsageError(
            f"invalid --cert-name {name!r}: use letters, digits, dots, hyphens and underscores"
        )
    return name


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` in one step: temporary file in the same directory, fsync, rename.

    The file never exists with looser permissions than `mode`. Raises StoreError on failure,
    leaving any previous file untouched.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _store_error(path, err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _store_error(path, err) from err


def make_private_dir(path: Path) -> Path:
    """Create `path` and missing parents as 0700 (an existing directory is tightened to 0700)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as err:
        raise _store_error(path, err) from err
    return path


@dataclass(frozen=True)
class LivePaths:
    """The live file paths of one certificate, the ones web servers point at."""

    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def chain(self) -> Path:
        return self.directory / "chain.pem"

    @property
    def fullchain(self) -> Path:
        return self.directory / "fullchain.pem"

    @property
    def privkey(self) -> Path:
        return self.directory / "privkey.pem"


class Store:
    """Files under one configuration directory."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def prepare(self) -> None:
        """Create the configuration directory (0700) if it is missing."""
        make_private_dir(self.config_dir)

    def live(self, cert_name: str) -> LivePaths:
        return LivePaths(self.config_dir / "live" / cert_name)

    def has_certificate(self, cert_name: str) -> bool:
        return self.live(cert_name).fullchain.exists()

    def save_certificate(
        self, cert_name: str, *, cert: bytes, chain: bytes, fullchain: bytes, privkey: bytes
    ) -> Path:
        """Write a new version of `cert_name` and make it live in one atomic switch.

        Returns the new version's directory. On any failure the partial version is removed, the
        live link is unchanged, and StoreError says why.
        """
        check_cert_name(cert_name)
        archive = make_private_dir(self.config_dir / "archive" / cert_name)
        live_root = make_private_dir(self.config_dir / "live")
        version = self._new_version_dir(archive)
        try:
            for filename, data, mode in (
                ("privkey.pem", privkey, 0o600),
                ("cert.pem", cert, 0o644),
                ("chain.pem", chain, 0o644),
                ("fullchain.pem", fullchain, 0o644),
            ):
                write_atomic(version / filename, data, mode)
            _fsync_dir(version)
            link = live_root / cert_name
            if link.exists() and not link.is_symlink():
                raise StoreError(
                    f"{link} is a directory, not an acmecf link: move it away and run again"
                )
            tmp_link = live_root / f".{cert_name}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_link)
            os.symlink(os.path.relpath(version, live_root), tmp_link)
            os.replace(tmp_link, link)
            _fsync_dir(live_root)
        except (OSError, StoreError) as err:
            shutil.rmtree(version, ignore_errors=True)
            if isinstance(err, StoreError):
                raise StoreError(f"{err}; the live certificate is unchanged") from err
            raise StoreError(
                f"{_store_error(version, err)}; the live certificate is unchanged"
            ) from err
        return version

    @contextlib.contextmanager
    def lock(self, *, wait: float = 10.0) -> Iterator[None]:
        """Hold the configuration directory's lock: one writing acmecf run at a time.

        Waits up to `wait` seconds for another run to finish, then raises StoreError naming
        the process that holds it. The lock is released when the process ends, however it ends.
        """
        self.prepare()
        path = self.config_dir / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise _store_error(path, err) from err
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise StoreError(
                            f"another acmecf run (pid {holder}) is working in "
                            f"{self.config_dir}; it will finish on its own: try again later"
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def renewal_path(self, cert_name: str) -> Path:
        return self.config_dir / "renewal" / f"{cert_name}.toml"

    def deploy_hooks_dir(self) -> Path:
        return self.config_dir / "hooks" / "deploy"

    def certificate_names(self) -> list[str]:
        """The names of every stored certificate, sorted."""
        directory = self.config_dir / "renewal"
        try:
            return sorted(p.stem for p in directory.iterdir() if p.suffix == ".toml")
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StoreError(f"cannot list {directory}: {err.strerror}") from err

    def load_certificate(self, cert_name: str) -> StoredCertificate:
        from acmecf.renewal import load

        path = self.renewal_path(cert_name)
        if not path.exists():
            raise UsageError(
                f"no certificate named {cert_name!r} in {self.config_dir}: see `acmecf list`"
            )
        return load(path)

    def load_certificates(self) -> list[StoredCertificate]:
        from acmecf.renewal import load

        return [load(self.renewal_path(name)) for name in self.certificate_names()]

    def certificate_states(self, cert_names: Sequence[str] = ()) -> dict[str, CertificateState]:
        """The renewal state of each named certificate (default: every one), cheaply.

        Reading a thousand TOML files costs more than a no-op renewal may, so the states are
        cached in `renewal/.state-cache.json`, each entry valid while its file keeps the same
        inode, size and modification time; only changed files are parsed. The TOML files stay
        the truth: the cache may be deleted at any time.
        """
        from acmecf.renewal import load, state_from_json, state_to_json

        if cert_names:
            return {name: self.load_certificate(name).state for name in cert_names}
        directory = self.config_dir / "renewal"
        cache_path = directory / ".state-cache.json"
        try:
            cache = json.loads(cache_path.read_bytes())
            entries: dict[str, Any] = cache["entries"] if cache.get("version") == 1 else {}
        except (OSError, ValueError, KeyError, TypeError):
            entries = {}
        states: dict[str, CertificateState] = {}
        fresh: dict[str, Any] = {}
        try:
            files = sorted(
                (e for e in os.scandir(directory) if e.name.endswith(".toml")),
                key=lambda e: e.name,
            )
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise StoreError(f"cannot list {directory}: {err.strerror}") from err
        for entry in files:
            name = entry.name[: -len(".toml")]
            info = entry.stat()
            key = [info.st_ino, info.st_mtime_ns, info.st_size]
            cached = entries.get(name)
            if isinstance(cached, dict) and cached.get("key") == key:
                try:
                    states[name] = state_from_json(cached["state"])
                    fresh[name] = cached
                    continue
                except (KeyError, TypeError, ValueError):
                    pass
            states[name] = load(Path(entry.path)).state
            fresh[name] = {"key": key, "state": state_to_json(states[name])}
        if fresh != entries:
            try:
                write_atomic(
                    cache_path, json.dumps({"version": 1, "entries": fresh}).encode(), 0o600
                )
            except StoreError as err:  # a cache: never worth failing a run for
                log.debug("could not update %s: %s", cache_path, err)
        return states

    def save_renewal(self, certificate: StoredCertificate) -> None:
        """Write a certificate's settings and state atomically."""
        from acmecf.renewal import dumps

        make_private_dir(self.config_dir / "renewal")
        write_atomic(self.renewal_path(certificate.name), dumps(certificate).encode(), 0o600)

    def delete_certificate(self, cert_name: str) -> None:
        """Remove a certificate's live link, every version and its settings."""
        check_cert_name(cert_name)
        try:
            link = self.config_dir / "live" / cert_name
            if link.is_symlink():
                link.unlink()
            shutil.rmtree(self.config_dir / "archive" / cert_name, ignore_errors=True)
            self.renewal_path(cert_name).unlink(missing_ok=True)
        except OSError as err:
            raise _store_error(self.config_dir / cert_name, err) from err

    def account_dir(self, server_url: str) -> Path:
        """The directory for the account at `server_url` (one per ACME directory URL)."""
        parts = urlsplit(server_url)
        host = (parts.netloc or "server").replace(":", "_")
        path = parts.path.strip("/").replace("/", "_") or "directory"
        return self.config_dir / "accounts" / host / path

    def load_account(self, server_url: str) -> tuple[bytes, dict[str, Any]] | None:
        """The account key PEM and registration of `server_url`, or None when none is stored."""
        directory = self.account_dir(server_url)
        key_path, info_path = directory / "key.pem", directory / "account.json"
        if not key_path.exists():
            return None
        try:
            key = key_path.read_bytes()
            info = json.loads(info_path.read_text()) if info_path.exists() else {}
        except (OSError, ValueError) as err:
            raise StoreError(f"cannot read the account in {directory}: {err}") from err
        return key, info

    def save_account_key(self, server_url: str, key_pem: bytes) -> None:
        """Store a new account key (0600) before it is registered, so it is never lost."""
        directory = make_private_dir(self.account_dir(server_url))
        write_atomic(directory / "key.pem", key_pem, 0o600)

    def stage_account_key(self, server_url: str, key_pem: bytes) -> Path:
        """Write a replacement account key beside the current one (key rollover, step one)."""
        directory = make_private_dir(self.account_dir(server_url))
        pending = directory / "key.new.pem"
        write_atomic(pending, key_pem, 0o600)
        return pending

    def commit_account_key(self, server_url: str, pending: Path) -> None:
        """Make the staged key the account key (key rollover, once the CA has accepted it)."""
        target = self.account_dir(server_url) / "key.pem"
        try:
            os.replace(pending, target)
            _fsync_dir(target.parent)
        except OSError as err:
            raise StoreError(
                f"the CA now knows the account by the key in {pending}, but it could not be "
                f"moved to {target} ({err.strerror}): move it by hand"
            ) from err

    def retire_account(self, server_url: str) -> Path:
        """Set a deactivated account's files aside; the next issuance registers anew."""
        import datetime

        directory = self.account_dir(server_url)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        retired = directory.with_name(f"{directory.name}.deactivated-{stamp}")
        try:
            os.replace(directory, retired)
        except OSError as err:
            raise _store_error(directory, err) from err
        return retired

    def save_account_info(self, server_url: str, info: dict[str, Any]) -> None:
        directory = make_private_dir(self.account_dir(server_url))
        write_atomic(directory / "account.json", json.dumps(info, indent=2).encode() + b"\n")

    @staticmethod
    def _new_version_dir(archive: Path) -> Path:
        existing = [int(p.name) for p in archive.iterdir() if p.name.isdigit()]
        number = max(existing, default=0) + 1
        while True:
            candidate = archive / f"{number:04d}"
            try:
                candidate.mkdir(mode=0o700)
                return candidate
            except FileExistsError:
                number += 1
            except OSError as err:
                raise _store_error(candidate, err) from err


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store_error(path: Path, err: OSError) -> StoreError:
    if err.errno == errno.ENOSPC:
        return StoreError(f"cannot write {path}: the disk is full; free space and run again")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(
            f"cannot write {path}: {err.strerror}; run as a user who may write the "
            "configuration directory, or pass --config-dir"
        )
    return StoreError(f"cannot write {path}: {err.strerror or err}")
