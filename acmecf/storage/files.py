"""`FileStore`: the storage contracts over one configuration directory on this machine.

Layout (directories 0700, private keys and settings 0600)::

    <config>/renewal/<cert-name>.toml      settings ([certificate], [hooks]) and [state]
    <config>/archive/<cert-name>/<version>/cert.pem, chain.pem, fullchain.pem, privkey.pem
    <config>/live/<cert-name> -> ../archive/<cert-name>/<version>
    <config>/accounts/<host>/<path>/key.pem, account.json
    <config>/locks/<key>.lock              one flock per certificate (or other key)
    <config>/journal/<run>.jsonl           challenge records of one run, until removed
    <config>/hooks/deploy/                 executables run after every issue or renewal
    <config>/origin-pull/                  see storage.origin_pulls

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
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acmecf.errors import (
    CertificateNotFoundError,
    LockedError,
    StoredFileError,
    StoreError,
    UnsafePathError,
)
from acmecf.names import check_cert_name
from acmecf.settings.table import SettingError, settings_from_mapping, to_mapping
from acmecf.storage import toml_text
from acmecf.storage.model import (
    BrokenCertificate,
    CertificateMaterial,
    CertificateState,
    JournalEntry,
    LiveCertificate,
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
        self.journal = FileJournal(self)
        self._lock = threading.Lock()

    # --- directories -----------------------------------------------------------------------

    def root(self, *, create: bool = True) -> SafeDir:
        """The configuration directory, opened (and created 0700 unless `create` is false)."""
        return SafeDir.open_root(self.config_dir, create=create)

    @contextlib.contextmanager
    def directory(self, *parts: str, create: bool = True) -> Iterator[SafeDir | None]:
        """The directory `<config>/<parts...>`, or None when it (or the configuration directory)
        does not exist and `create` is false."""
        if not create and not self.config_dir.is_dir():
            yield None
            return
        current = self.root(create=create)
        try:
            for part in parts:
                child = current.child(part, create=create) if create else current.maybe_child(part)
                current.close()
                if child is None:
                    yield None
                    return
                current = child
            yield current
        finally:
            current.close()

    def prepare(self) -> None:
        """Create the configuration directory (0700) if it is missing; check it."""
        self.root().close()

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
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise StoredFileError(path, None, "is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as err:
            raise StoredFileError(path, None, f"is not valid TOML ({err})") from None
        version = document.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise StoredFileError(
                path, "version", f"format {version!r} is not one this acmecf reads: upgrade acmecf"
            )
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

    def publish(self, name: str, material: CertificateMaterial) -> str:
        check_cert_name(name)
        with self.directory("archive") as archive_root:
            assert archive_root is not None
            with archive_root.child(name) as archive:
                self._remove_partial_versions(archive)
                number = self._next_version(archive)
                version = f"{number:04d}"
                partial = f".{version}.partial-{secrets.token_hex(4)}"
                if not archive.mkdir_exclusive(partial):
                    raise StoreError(f"cannot create a new version in {archive.path}")
                try:
                    with archive.child(partial, create=False) as directory:
                        for file_name, data, mode in (
                            ("privkey.pem", material.privkey, 0o600),
                            ("cert.pem", material.cert, 0o644),
                            ("chain.pem", material.chain, 0o644),
                            ("fullchain.pem", material.fullchain, 0o644),
                        ):
                            directory.write_atomic(file_name, data, mode)
                    while not self._claim_version(archive, partial, version):
                        number += 1
                        version = f"{number:04d}"
                except BaseException as err:
                    with contextlib.suppress(StoreError):
                        archive.remove_tree(partial)
                    if isinstance(err, StoreError):
                        raise StoreError(f"{err}; the live certificate is unchanged") from err
                    raise
        with self.directory("live") as live:
            assert live is not None
            try:
                live.replace_symlink(name, f"../archive/{name}/{version}")
            except StoreError as err:
                raise StoreError(f"{err}; the live certificate is unchanged") from err
        return version

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
            directory = archive.maybe_child(version) if archive is not None else None
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


# --- the challenge-record journal ------------------------------------------------------------


class FileJournal:
    """The journal as one file per run in `<config>/journal/`.

    A run's file is created under a temporary name, locked (flock) and only then renamed into
    place, so no other run ever sees it unlocked while its owner lives. Each entry is a JSON
    line, written and fsynced before the record is created; removing a record appends a
    "forget" line. A run that removed everything deletes its file. A file whose lock can be
    taken belongs to a run that is no longer running: its records are leftovers.
    """

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def open_run(self) -> FileRunJournal:
        return FileRunJournal(self._store)

    def empty(self) -> bool:
        """True when no run has a journal file (one directory read; no lock)."""
        try:
            with self._store.directory("journal", create=False) as journal:
                if journal is None:
                    return True
                return not any(n.endswith(".jsonl") for n in journal.names())
        except StoreError:
            return False

    def leftovers(self) -> Iterator[FileLeftovers]:
        with self._store.directory("journal", create=False) as journal:
            if journal is None:
                return
            for name in journal.names():
                if name.startswith(".") and name.endswith(".tmp"):
                    _remove_if_abandoned(journal, name)
            names = [n for n in journal.names() if n.endswith(".jsonl")]
            for name in names:
                try:
                    fd = journal.open_lock_file(name)
                except (StoreError, FileNotFoundError):
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue  # its run is still running: never touch what a live run owns
                leftovers = FileLeftovers(journal.path / name, fd, _read_entries(fd))
                try:
                    yield leftovers
                finally:
                    leftovers.close()


class FileRunJournal:
    """One run's journal file; created on the first record.

    Group commit: an entry is written under the lock and made durable by an fsync outside it;
    one fsync covers every entry written before it, so workers that record at the same moment
    share one instead of queueing for one each."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self._fd: int | None = None
        self._path: Path | None = None
        self._open: dict[JournalEntry, int] = {}
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # lines written so far
        self._synced = 0  # lines known durable

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            if self._fd is None:
                self._create()
            self._append({"op": "add", **entry.as_json()})
            self._open[entry] = self._open.get(entry, 0) + 1
            written = self._written
        self._sync(written)

    def forget(self, entry: JournalEntry) -> None:
        with self._lock:
            if self._fd is None or entry not in self._open:
                return
            self._append({"op": "forget", **entry.as_json()})
            self._open[entry] -= 1
            if not self._open[entry]:
                del self._open[entry]
            written = self._written
        self._sync(written)

    def close(self) -> None:
        with self._sync_lock, self._lock:
            if self._fd is None:
                return
            if not self._open and self._path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._path)
            os.close(self._fd)
            self._fd = None

    def _create(self) -> None:
        run = f"{os.getpid()}-{secrets.token_hex(4)}"
        with self._store.directory("journal") as journal:
            assert journal is not None
            temporary = f".{run}.tmp"
            fd = journal.open_lock_file(temporary)
            fcntl.flock(fd, fcntl.LOCK_EX)
            journal.rename(temporary, f"{run}.jsonl")
            self._path = journal.path / f"{run}.jsonl"
        self._fd = fd

    def _append(self, line: Mapping[str, Any]) -> None:
        assert self._fd is not None
        data = (json.dumps(dict(line), sort_keys=True) + "\n").encode()
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
            os.write(self._fd, data)
        except OSError as err:
            from acmecf.storage.safe import store_error

            raise store_error(self._path or "the journal", err) from err
        self._written += 1

    def _sync(self, line: int) -> None:
        """Return once the first `line` lines are on disk."""
        with self._sync_lock:
            if self._synced >= line:
                return  # another thread's fsync covered it
            with self._lock:
                fd, written = self._fd, self._written
            if fd is None:
                return
            try:
                os.fsync(fd)
            except OSError as err:
                from acmecf.storage.safe import store_error

                raise store_error(self._path or "the journal", err) from err
            self._synced = written


class FileLeftovers:
    """A dead run's journal file, locked by us while its records are removed."""

    def __init__(self, path: Path, fd: int, entries: list[JournalEntry]) -> None:
        self.path = path
        self._fd = fd
        self.entries = entries

    def forget(self, entry: JournalEntry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            data = (json.dumps({"op": "forget", **entry.as_json()}, sort_keys=True) + "\n").encode()
            try:
                os.lseek(self._fd, 0, os.SEEK_END)
                os.write(self._fd, data)
                os.fsync(self._fd)
            except OSError as err:
                log.debug("could not note the removal in %s: %s", self.path, err)

    def close(self) -> None:
        if self._fd < 0:
            return
        if not self.entries:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1


def _remove_if_abandoned(journal: SafeDir, name: str) -> None:
    """Remove a journal file that a run killed while creating it left under its temporary name
    (it holds no entry: entries are written only once it is in place)."""
    try:
        fd = journal.open_lock_file(name)
    except StoreError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        journal.remove(name)
    except (BlockingIOError, StoreError):
        pass
    finally:
        os.close(fd)


def _read_entries(fd: int) -> list[JournalEntry]:
    """The entries added and not forgotten, in order; unreadable lines (a torn last write of a
    killed run) are skipped."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    entries: list[JournalEntry] = []
    for line in b"".join(chunks).splitlines():
        try:
            data = json.loads(line)
            entry = JournalEntry.from_json(data)
        except (ValueError, KeyError, TypeError):
            continue
        if data.get("op") == "add":
            entries.append(entry)
        elif data.get("op") == "forget" and entry in entries:
            entries.remove(entry)
    return entries
