"""`FileStore`: the storage contracts over one configuration directory on this machine.

Layout (directories 0700, private keys and settings 0600)::

    <config>/renewal/<cert-name>.toml      settings ([certificate], [hooks], [files]), [state]
    <config>/archive/<cert-name>/<version>/cert.pem, chain.pem, fullchain.pem, privkey.pem
                                           (and combined.pem, cert.p12 when asked for)
    <config>/live/<cert-name> -> ../archive/<cert-name>/<version>
    <config>/accounts/<host>/<path>/key.pem, account.json
    <config>/locks/<key>.lock              one flock per certificate (or other key)
    <config>/journal/<run>.jsonl           challenge records of one run (storage.file_journal)
    <config>/hooks/deploy/                 executables run after every issue or renewal
    <config>/origin-pull/                  see storage.origin_pulls

A certificate whose key a group may read (OutputFiles.key_gid) has its key files 0640 and its
directories (archive/<cert-name>/ and each version) 0750 in that group; the directories on the
way there (the configuration directory, live/ and archive/) become 0711, so that the group can
pass through them without listing them (certificates may have different groups). Every other
directory stays 0700. `prune` removes old versions, the files holding the key first.

A version is written under a temporary name, fsynced and renamed complete before the live link
is switched to it by one rename: a reader sees the old key and certificate or the new pair,
never a mix, and a run killed at any moment leaves the live files as they were. Every path is
reached through storage.safe, never following a link inside the directory.

Does not: know ACME, Cloudflare or what is due; run hooks.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acmecf.errors import (
    CertificateNotFoundError,
    LockedError,
    SettingError,
    StoredFileError,
    StoreError,
    UnsafePathError,
)
from acmecf.names import check_cert_name
from acmecf.settings.table import settings_from_mapping, to_mapping
from acmecf.storage import toml_text
from acmecf.storage.model import (
    COMBINED_FILE,
    KEY_FILES,
    PKCS12_FILE,
    BrokenCertificate,
    CertificateMaterial,
    CertificateState,
    LiveCertificate,
    OutputFiles,
    StoredAccount,
    StoredCertificate,
    state_from_mapping,
    state_to_json,
    state_to_mapping,
)
from acmecf.storage.safe import SafeDir, check_trusted_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STATE_CACHE = ".state-cache.json"
_VERSION = re.compile(r"\d{4,}")
_PARTIAL = re.compile(r"\.\d{4,}\.partial-[0-9a-f]+")
MIN_FREE_BYTES = 1024 * 1024  # a version is a few KB; less than this and writes will fail
# Modes a directory may have besides 0700 (storage.safe leaves these alone): the directories on
# the way to a certificate's files may be passed through (0711); a certificate's own, entered by
# the group that may read its key (0750).
TRAVERSE = 0o711
GROUP_DIRECTORY = 0o750


def default_config_dir() -> Path:
    """/etc/acmecf for root; $XDG_CONFIG_HOME/acmecf (or ~/.config/acmecf) for anyone else."""
    if os.geteuid() == 0:
        return Path("/etc/acmecf")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "acmecf"


@dataclass(frozen=True)
class LivePaths:
    """The live file paths of one certificate, the ones web servers and hooks point at."""

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

    @property
    def combined(self) -> Path:
        return self.directory / COMBINED_FILE

    @property
    def pkcs12(self) -> Path:
        return self.directory / PKCS12_FILE


@dataclass(frozen=True)
class HookFile:
    """An executable in `hooks/deploy/`; `problem` says why it must not run (None: it may)."""

    path: Path
    problem: str | None


class FileStore:
    """Certificates, accounts, locks and the journal in one configuration directory.

    Implements CertificateStore, AccountStore, Locker and Journal (storage.contracts). Safe to
    share between threads; every method opens what it needs and closes it again.
    """

    def __init__(self, config_dir: Path) -> None:
        if not str(config_dir):
            raise StoreError("the configuration directory must be a non-empty path")
        self.config_dir = Path(os.path.abspath(config_dir))
        self.location = str(self.config_dir)
        from acmecf.storage.file_journal import FileJournal

        self.journal = FileJournal(self)
        self._lock = threading.Lock()

    # --- directories -----------------------------------------------------------------------

    def root(self, *, create: bool = True) -> SafeDir:
        """The configuration directory, opened (and created 0700 unless `create` is false)."""
        return SafeDir.open_root(self.config_dir, create=create, accept=(TRAVERSE,))

    @contextlib.contextmanager
    def directory(self, *parts: str, create: bool = True) -> Iterator[SafeDir | None]:
        """The directory `<config>/<parts...>`, or None when it (or the configuration directory)
        does not exist and `create` is false."""
        if not create and not self.config_dir.is_dir():
            yield None
            return
        current = self.root(create=create)
        try:
            for depth, part in enumerate(parts, 1):
                accept = _accepted_modes(parts[:depth])
                child = (
                    current.child(part, create=create, accept=accept)
                    if create
                    else current.maybe_child(part, accept=accept)
                )
                current.close()
                if child is None:
                    yield None
                    return
                current = child
            yield current
        finally:
            current.close()

    INTERNAL = (
        "renewal",
        "archive",
        "live",
        "accounts",
        "locks",
        "journal",
        "hooks",
        "origin-pull",
    )

    def prepare(self) -> None:
        """Create the configuration directory (0700) if it is missing, and check it and every
        directory acmecf keeps in it (no link, nobody else's, not writable by others), before
        a run does anything it could not take back (such as ordering a certificate)."""
        with self.directory() as root:
            assert root is not None
            for name in self.INTERNAL:
                child = root.maybe_child(name)
                if child is not None:
                    child.close()

    def check_free_space(self, needed: int = MIN_FREE_BYTES) -> None:
        """Raise StoreError when the configuration directory's file system is (nearly) full, so
        that a certificate is not ordered only to be lost for want of space."""
        with self.directory() as root:
            assert root is not None
            free = root.free_bytes()
        if free < needed:
            raise StoreError(
                f"the file system of {self.config_dir} is full ({free // 1024} KiB free): free "
                "space and run again (nothing was ordered)"
            )

    # --- CertificateStore ------------------------------------------------------------------

    def names(self) -> list[str]:
        with self.directory("renewal", create=False) as renewal:
            if renewal is None:
                return []
            return [n[: -len(".toml")] for n in renewal.names() if _is_settings_file(n)]

    def load(self, name: str) -> StoredCertificate:
        check_cert_name(name)
        with self.directory("renewal", create=False) as renewal:
            data = renewal.read_bytes(f"{name}.toml") if renewal is not None else None
        if data is None:
            raise CertificateNotFoundError(name, self.location)
        return self._parse(name, data)

    def load_all(self) -> tuple[list[StoredCertificate], list[BrokenCertificate]]:
        certificates: list[StoredCertificate] = []
        broken: list[BrokenCertificate] = []
        for name in self.names():
            try:
                certificates.append(self.load(name))
            except (StoreError, CertificateNotFoundError) as err:
                broken.append(BrokenCertificate(name, str(err)))
        return certificates, broken

    def states(self, names: Sequence[str] = ()) -> dict[str, CertificateState | BrokenCertificate]:
        """The state of each certificate, from a cache that makes a thousand of them cheap.

        The cache, `renewal/.state-cache.json`, holds each file's state with the file's inode,
        size and modification time; only files that changed are parsed again. The TOML files
        stay the truth: the cache may be deleted at any time.
        """
        if names:
            result: dict[str, CertificateState | BrokenCertificate] = {}
            for name in names:
                try:
                    result[name] = self.load(name).state
                except StoreError as err:
                    result[name] = BrokenCertificate(name, str(err))
            return result
        with self.directory("renewal", create=False) as renewal:
            if renewal is None:
                return {}
            return self._cached_states(renewal)

    def _cached_states(self, renewal: SafeDir) -> dict[str, CertificateState | BrokenCertificate]:
        from acmecf.storage.model import state_from_mapping as from_mapping

        try:
            raw = renewal.read_bytes(STATE_CACHE)
            cache = json.loads(raw) if raw else {}
            entries: dict[str, Any] = cache["entries"] if cache.get("version") == 2 else {}
        except (StoreError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        states: dict[str, CertificateState | BrokenCertificate] = {}
        fresh: dict[str, Any] = {}
        for file_name in renewal.names():
            if not _is_settings_file(file_name):
                continue
            name = file_name[: -len(".toml")]
            info = renewal.lstat(file_name)
            if info is None:
                continue
            key = [info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode, info.st_uid]
            cached = entries.get(name)
            if isinstance(cached, dict) and cached.get("key") == key:
                try:
                    if "broken" in cached:
                        states[name] = BrokenCertificate(name, str(cached["broken"]))
                    else:
                        states[name] = from_mapping(cached["state"])
                    fresh[name] = cached
                    continue
                except (KeyError, TypeError, ValueError):
                    pass
            try:
                data = renewal.read_bytes(file_name)
                if data is None:
                    continue
                state = self._parse(name, data).state
                states[name] = state
                fresh[name] = {"key": key, "state": state_to_json(state)}
            except StoreError as err:
                states[name] = BrokenCertificate(name, str(err))
                fresh[name] = {"key": key, "broken": str(err)}
        if fresh != entries:
            try:
                renewal.write_atomic(
                    STATE_CACHE, json.dumps({"version": 2, "entries": fresh}).encode(), 0o600
                )
            except StoreError as err:  # a cache: never worth failing a run for
                log.debug("could not update %s: %s", renewal.path / STATE_CACHE, err)
        return states

    def _parse(self, name: str, data: bytes) -> StoredCertificate:
        path = str(self.config_dir / "renewal" / f"{name}.toml")
        document = toml_text.loads(path, data, FORMAT_VERSION)
        try:
            settings = settings_from_mapping(name, document)
            state_table = document.get("state", {})
            if not isinstance(state_table, Mapping):
                raise SettingError("state", "must be a table")
            state = state_from_mapping(state_table)
        except SettingError as err:
            raise StoredFileError(path, err.key, err.problem) from None
        return StoredCertificate(settings, state)

    def save(self, certificate: StoredCertificate) -> None:
        name = check_cert_name(certificate.name)
        tables: dict[str, Mapping[str, Any]] = dict(to_mapping(certificate.settings))
        tables["state"] = state_to_mapping(certificate.state)
        text = toml_text.dumps(
            [
                f"acmecf: how {name} is issued and renewed. Written by `acmecf issue`;",
                "change it with `acmecf issue --cert-name ...` rather than by hand.",
            ],
            {"version": FORMAT_VERSION},
            tables,
        )
        with self.directory("renewal") as renewal:
            assert renewal is not None
            renewal.write_atomic(f"{name}.toml", text.encode(), 0o600)

    def publish(
        self, name: str, material: CertificateMaterial, files: OutputFiles | None = None
    ) -> str:
        check_cert_name(name)
        files = files or OutputFiles()
        gid = files.key_gid
        key_mode = 0o640 if gid is not None else 0o600
        directory_mode = GROUP_DIRECTORY if gid is not None else 0o700
        contents = [
            ("privkey.pem", material.privkey, key_mode),
            ("cert.pem", material.cert, 0o644),
            ("chain.pem", material.chain, 0o644),
            ("fullchain.pem", material.fullchain, 0o644),
        ]
        if files.combined:
            contents.append((COMBINED_FILE, material.privkey + material.fullchain, key_mode))
        if files.pkcs12 is not None:
            contents.append((PKCS12_FILE, files.pkcs12, key_mode))
        with self.directory() as root:
            assert root is not None
            if gid is not None:
                root.set_access(TRAVERSE)
            with root.child("archive", accept=(TRAVERSE,)) as archive_root:
                if gid is not None:
                    archive_root.set_access(TRAVERSE)
                with archive_root.child(name, accept=(GROUP_DIRECTORY,)) as archive:
                    # Without a group, old versions become the owner's alone again too.
                    archive.set_access(directory_mode, gid)
                    version = self._write_version(archive, contents, directory_mode, gid)
            with root.child("live", accept=(TRAVERSE,)) as live:
                if gid is not None:
                    live.set_access(TRAVERSE)
                try:
                    live.replace_symlink(name, f"../archive/{name}/{version}")
                except StoreError as err:
                    raise StoreError(f"{err}; the live certificate is unchanged") from err
        return version

    def _write_version(
        self,
        archive: SafeDir,
        contents: list[tuple[str, bytes, int]],
        directory_mode: int,
        gid: int | None,
    ) -> str:
        """Write a complete version beside the others under a temporary name, then give it the
        next free number; return that number."""
        self._remove_partial_versions(archive)
        number = self._next_version(archive)
        version = f"{number:04d}"
        partial = f".{version}.partial-{secrets.token_hex(4)}"
        if not archive.mkdir_exclusive(partial):
            raise StoreError(f"cannot create a new version in {archive.path}")
        try:
            with archive.child(partial, create=False) as directory:
                directory.set_access(directory_mode, gid)
                for file_name, data, mode in contents:
                    group = gid if mode & 0o040 and file_name in KEY_FILES else None
                    directory.write_atomic(file_name, data, mode, group=group)
            while not self._claim_version(archive, partial, version):
                number += 1
                version = f"{number:04d}"
        except BaseException as err:
            with contextlib.suppress(StoreError):
                archive.remove_tree(partial)
            if isinstance(err, StoreError):
                raise StoreError(f"{err}; the live certificate is unchanged") from err
            raise
        return version

    def prune(self, name: str, keep: int) -> list[str]:
        check_cert_name(name)
        if keep <= 0:
            return []
        live = self.live_version(name)
        removed: list[str] = []
        with self.directory("archive", name, create=False) as archive:
            if archive is None:
                return []
            versions = sorted((n for n in archive.names() if _VERSION.fullmatch(n)), key=int)
            for version in versions[:-keep]:
                if version == live:
                    continue
                with archive.child(version, create=False, accept=(GROUP_DIRECTORY,)) as old:
                    for file_name in KEY_FILES:  # a run stopped halfway leaves no key behind
                        old.remove(file_name)
                archive.remove_tree(version)
                removed.append(version)
        if removed:
            log.info("%s: removed old versions %s", name, ", ".join(removed))
        return removed

    @staticmethod
    def _claim_version(archive: SafeDir, partial: str, version: str) -> bool:
        if archive.lstat(version) is not None:
            return False
        archive.rename(partial, version)
        return True

    @staticmethod
    def _next_version(archive: SafeDir) -> int:
        numbers = [int(n) for n in archive.names() if _VERSION.fullmatch(n)]
        return max(numbers, default=0) + 1

    @staticmethod
    def _remove_partial_versions(archive: SafeDir) -> None:
        """Remove versions a killed run left half-written (the caller holds the lock)."""
        for entry in archive.names():
            if _PARTIAL.fullmatch(entry):
                log.info("removing the incomplete version %s", archive.path / entry)
                archive.remove_tree(entry)

    def live(self, name: str) -> LiveCertificate | None:
        version = self.live_version(name)
        if version is None:
            return None
        with self.directory("archive", name, create=False) as archive:
            directory = (
                archive.maybe_child(version, accept=(GROUP_DIRECTORY,))
                if archive is not None
                else None
            )
            if directory is None:
                raise StoreError(
                    f"{self.config_dir / 'live' / name} points at a missing version {version}: "
                    f"run `acmecf renew --force --cert-name {name}` to issue a new one"
                )
            with directory:
                files = {
                    f: directory.read_bytes(f) for f in ("privkey.pem", "cert.pem", "chain.pem")
                }
        missing = [f for f, data in files.items() if data is None]
        if missing:
            raise StoreError(
                f"version {version} of {name} lacks {', '.join(missing)}: run `acmecf renew "
                f"--force --cert-name {name}` to issue a new one"
            )
        return LiveCertificate(
            version,
            CertificateMaterial(
                privkey=files["privkey.pem"] or b"",
                cert=files["cert.pem"] or b"",
                chain=files["chain.pem"] or b"",
            ),
        )

    def live_version(self, name: str) -> str | None:
        check_cert_name(name)
        with self.directory("live", create=False) as live:
            target = live.readlink(name) if live is not None else None
        if target is None:
            return None
        prefix = f"../archive/{name}/"
        version = target[len(prefix) :] if target.startswith(prefix) else ""
        if not _VERSION.fullmatch(version):
            raise UnsafePathError(
                f"{self.config_dir / 'live' / name} points at {target}, outside acmecf's archive: "
                "remove the link and run `acmecf renew --force`",
                path=str(self.config_dir / "live" / name),
            )
        return version

    def live_paths(self, name: str) -> LivePaths:
        """The paths web servers and hooks use for `name` (whether or not they exist yet)."""
        return LivePaths(self.config_dir / "live" / check_cert_name(name))

    def delete(self, name: str) -> None:
        check_cert_name(name)
        with self.directory("live", create=False) as live:
            if live is not None:
                info = live.lstat(name)
                if info is not None and stat.S_ISLNK(info.st_mode):
                    live.remove(name)
        with self.directory("archive", create=False) as archive:
            if archive is not None:
                archive.remove_tree(name)
        with self.directory("renewal", create=False) as renewal:
            if renewal is not None:
                renewal.remove(f"{name}.toml")

    # --- hooks -----------------------------------------------------------------------------

    def deploy_hooks_dir(self) -> Path:
        return self.config_dir / "hooks" / "deploy"

    def deploy_hook_files(self) -> list[HookFile]:
        """The files in `hooks/deploy/`, by name (dot-files skipped), each with the reason it
        must not run, if any: a link, not a regular file, not executable, owned by another
        user, or writable by group or others (the directories above it are checked too)."""
        try:
            with self.directory("hooks", "deploy", create=False) as hooks:
                if hooks is None:
                    return []
                found = []
                for name in hooks.names():
                    if name.startswith("."):
                        continue
                    path = hooks.path / name
                    info = hooks.lstat(name)
                    if info is None:
                        continue
                    found.append(HookFile(path, _hook_problem(path, info)))
                return found
        except UnsafePathError as err:
            return [HookFile(self.deploy_hooks_dir(), str(err))]

    # --- AccountStore ----------------------------------------------------------------------

    def _account_parts(self, server: str) -> tuple[str, str]:
        parts = urlsplit(server)
        host = (parts.netloc or "server").replace(":", "_").replace("/", "_")
        path = parts.path.strip("/").replace("/", "_") or "directory"
        return _safe_component(host), _safe_component(path)

    def account_dir(self, server: str) -> Path:
        host, path = self._account_parts(server)
        return self.config_dir / "accounts" / host / path

    def load_account(self, server: str) -> StoredAccount | None:
        host, path = self._account_parts(server)
        with self.directory("accounts", host, path, create=False) as directory:
            if directory is None:
                return None
            key = directory.read_bytes("key.pem")
            if key is None:
                return None
            info_bytes = directory.read_bytes("account.json")
        try:
            info = json.loads(info_bytes) if info_bytes else {}
            if not isinstance(info, dict):
                raise ValueError("not an object")
        except ValueError as err:
            raise StoreError(
                f"cannot read {self.account_dir(server) / 'account.json'} ({err}): remove it "
                "to register the account again"
            ) from err
        return StoredAccount(key, info)

    def save_account_key(self, server: str, key_pem: bytes) -> None:
        host, path = self._account_parts(server)
        with self.directory("accounts", host, path) as directory:
            assert directory is not None
            directory.write_atomic("key.pem", key_pem, 0o600)

    def save_account_info(self, server: str, info: Mapping[str, Any]) -> None:
        host, path = self._account_parts(server)
        with self.directory("accounts", host, path) as directory:
            assert directory is not None
            text = json.dumps(dict(info), indent=2).encode() + b"\n"
            directory.write_atomic("account.json", text, 0o600)

    def stage_account_key(self, server: str, key_pem: bytes) -> str:
        host, path = self._account_parts(server)
        with self.directory("accounts", host, path) as directory:
            assert directory is not None
            directory.write_atomic("key.new.pem", key_pem, 0o600)
        return str(self.account_dir(server) / "key.new.pem")

    def commit_account_key(self, server: str, token: str) -> None:
        host, path = self._account_parts(server)
        with self.directory("accounts", host, path) as directory:
            assert directory is not None
            try:
                directory.rename("key.new.pem", "key.pem")
            except StoreError as err:
                raise StoreError(
                    f"the CA now knows the account by the key in {token}, but it could not be "
                    f"moved to key.pem ({err}): move it by hand"
                ) from err

    def retire_account(self, server: str) -> str:
        host, path = self._account_parts(server)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        retired = f"{path}.deactivated-{stamp}"
        with self.directory("accounts", host) as directory:
            assert directory is not None
            directory.rename(path, retired)
        return str(self.config_dir / "accounts" / host / retired)

    # --- Locker ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: float = 10.0) -> Iterator[None]:
        """Hold the lock `key` (a flock on `locks/<key>.lock`): one holder at a time across
        threads and processes. Waits up to `wait` seconds, then raises LockedError naming the
        holder's pid. Released when the block ends or the process dies, however it dies."""
        file_name = f"{check_cert_name(key, 'lock name')}.lock"
        with self.directory("locks") as locks:
            assert locks is not None
            fd = locks.open_lock_file(file_name)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise LockedError(
                            f"another acmecf run (pid {holder}) is working on {key} in "
                            f"{self.config_dir}; it will finish on its own: try again later",
                            holder=holder,
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _accepted_modes(parts: tuple[str, ...]) -> tuple[int, ...]:
    """The modes besides 0700 a directory of the configuration directory may keep: see the
    module's doc (the root itself: FileStore.root)."""
    if parts in (("live",), ("archive",)):
        return (TRAVERSE,)
    if parts[:1] == ("archive",):
        return (GROUP_DIRECTORY,)
    return ()


def _is_settings_file(name: str) -> bool:
    return name.endswith(".toml") and not name.startswith(".")


def _safe_component(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}"


def _hook_problem(path: Path, info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link: copy the script itself into {path.parent}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    try:
        check_trusted_file(path, info)
    except UnsafePathError as err:
        return str(err)
    if not info.st_mode & stat.S_IXUSR:
        return f"{path} is not executable: `chmod +x {path}` or remove it"
    return None
