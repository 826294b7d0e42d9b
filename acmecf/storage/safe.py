"""The configuration directory as a trust boundary: files reached without following links.

acmecf runs as root and treats its configuration directory as sshd and sudo treat theirs.
Everything inside it is reached from an open descriptor of its parent directory, one path
component at a time, with O_NOFOLLOW: a symbolic link planted anywhere inside never leads a
read, a write or a chmod outside. A directory or file that is a link, that another user owns,
or that group or others may write is refused with one line naming it and the fix. Directories
are created 0700 (or the mode asked) whatever the umask, and one found with another mode is
set to it, unless the caller accepts that mode for that directory (a directory a service group
may enter: storage.files decides which); files are written to a temporary name
in the same directory, fsynced, renamed over the old one, and the directory fsynced, so a
reader sees the old content or the new, never a mix. A file the user names outside it (a
credentials file, a fleet key) is read by `read_trusted_file` under the same refusals.

Does not: know the layout of the configuration directory (storage.files does) or parse what
files hold.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from acmecf.errors import StoreError, UnsafePathError, UsageError

_READ_LIMIT = 16 * 1024 * 1024  # no file acmecf writes comes near this


def check_component(name: str) -> str:
    """`name` when it is one path component: not empty, no `/`, not `.` or `..`, no NUL."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise StoreError(f"invalid file name {name!r} inside the configuration directory")
    return name


def store_error(path: Path | str, err: OSError, verb: str = "write") -> StoreError:
    """An OSError as one line that names the file and what to do."""
    if err.errno == errno.ENOSPC or err.errno == errno.EDQUOT:
        return StoreError(f"cannot {verb} {path}: the disk is full; free space and run again")
    if err.errno in (errno.EACCES, errno.EPERM):
        return StoreError(
            f"cannot {verb} {path}: {err.strerror}; run as a user who may write the "
            "configuration directory, or pass --config-dir"
        )
    if err.errno == errno.EROFS:
        return StoreError(f"cannot {verb} {path}: the file system is read-only")
    return StoreError(f"cannot {verb} {path}: {err.strerror or err}")


def _trusted_owner(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() or info.st_uid == 0


def _owner_problem(path: Path, info: os.stat_result) -> UnsafePathError:
    return UnsafePathError(
        f"{path} is owned by uid {info.st_uid}, not by the user running acmecf "
        f"(uid {os.geteuid()}): acmecf does not trust it; `chown` it or remove it",
        path=str(path),
    )


def _writable_problem(path: Path, info: os.stat_result) -> UnsafePathError:
    return UnsafePathError(
        f"{path} is writable by group or others ({stat.filemode(info.st_mode)}): acmecf does "
        f"not trust what others could have put there; check it and run `chmod go-w {path}`",
        path=str(path),
    )


def check_trusted_file(path: Path, info: os.stat_result) -> None:
    """Refuse a file another user could have written: foreign owner, or group/other write."""
    if not _trusted_owner(info):
        raise _owner_problem(path, info)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _writable_problem(path, info)


def read_trusted_file(
    path: Path, what: str, error: type[UsageError], *, private: bool, limit: int
) -> bytes:
    """At most ``limit + 1`` bytes of a file the user named, checked and read through one
    descriptor, so the file checked is the file read.

    Like ssh with private keys, refused when it is not a regular file, when group or others
    may write it or (``private``) read it, or when a user other than root or the one running
    acmecf owns it. Raises ``error`` with one line naming ``what`` and ``path`` and the fix.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or err}") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file")
        if private and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise error(
                f"{what} {path} is accessible by group or others "
                f"({stat.filemode(info.st_mode)}): run `chmod 600 {path}`"
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise error(
                f"{what} {path} is writable by group or others "
                f"({stat.filemode(info.st_mode)}): run `chmod go-w {path}`"
            )
        if info.st_uid not in (os.geteuid(), 0):
            raise error(
                f"{what} {path} is owned by uid {info.st_uid}, not by the user running acmecf: "
                f"`chown` it to uid {os.geteuid()}"
            )
        return os.read(fd, limit + 1)
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or err}") from err
    finally:
        os.close(fd)


class SafeDir:
    """An open directory inside the configuration directory (or the directory itself).

    Every method takes a single file name in this directory. Close it when done (or use it as
    a context manager); children are separate descriptors and outlive their parent.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open_root(cls, path: Path, *, create: bool = True, accept: tuple[int, ...] = ()) -> SafeDir:
        """Open the configuration directory `path`, creating it (and missing parents) 0700.

        The path as given is the user's choice and may pass through links; the directory
        itself must be owned by the user running acmecf (or root) and not be writable by
        group or others (a mode such as 0755 is tightened to 0700, unless it is one of
        `accept`). Raises UnsafePathError, StoreError.
        """
        if create:
            try:
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as err:
                raise store_error(path, err, "create") from err
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise StoreError(f"the configuration directory {path} does not exist") from err
        except NotADirectoryError as err:
            raise StoreError(f"{path} is not a directory: pass another --config-dir") from err
        except OSError as err:
            raise store_error(path, err, "open") from err
        directory = cls(fd, path)
        try:
            directory._check_and_tighten(os.fstat(fd), 0o700, accept)
        except BaseException:
            directory.close()
            raise
        return directory

    def child(
        self,
        name: str,
        *,
        create: bool = True,
        mode: int = 0o700,
        accept: tuple[int, ...] = (),
    ) -> SafeDir:
        """Open the subdirectory `name`, creating it with `mode` when missing and `create`.

        Refuses (UnsafePathError) a link, a non-directory, a foreign owner or group/other
        write; an existing directory whose mode is neither `mode` nor one of `accept` is set
        to `mode`. Raises FileNotFoundError when it is missing and `create` is false.
        """
        check_component(name)
        path = self.path / name
        for attempt in (1, 2):
            try:
                fd = os.open(
                    name,
                    os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    dir_fd=self._fd,
                )
                break
            except FileNotFoundError:
                if not create or attempt == 2:
                    raise
                try:
                    os.mkdir(name, 0o700, dir_fd=self._fd)
                except FileExistsError:
                    pass  # created meanwhile by another run: open it
                except OSError as err:
                    raise store_error(path, err, "create") from err
            except (NotADirectoryError, OSError) as err:
                if isinstance(err, NotADirectoryError) or err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise self._not_a_directory(name) from err
                raise store_error(path, err, "open") from err
        directory = SafeDir(fd, path)
        try:
            directory._check_and_tighten(os.fstat(fd), mode, accept)
        except BaseException:
            directory.close()
            raise
        return directory

    def maybe_child(self, name: str, *, accept: tuple[int, ...] = ()) -> SafeDir | None:
        """The subdirectory `name`, or None when it does not exist (never creates it)."""
        try:
            return self.child(name, create=False, accept=accept)
        except FileNotFoundError:
            return None

    def _not_a_directory(self, name: str) -> UnsafePathError:
        path = self.path / name
        info = self.lstat(name)
        what = (
            "a symbolic link"
            if info is not None and stat.S_ISLNK(info.st_mode)
            else "not a directory"
        )
        return UnsafePathError(
            f"{path} is {what}: acmecf never follows links inside its configuration directory; "
            "remove it (acmecf recreates what it needs)",
            path=str(path),
        )

    def _check_and_tighten(self, info: os.stat_result, mode: int, accept: tuple[int, ...]) -> None:
        if not _trusted_owner(info):
            raise _owner_problem(self.path, info)
        current = stat.S_IMODE(info.st_mode)
        if current & (stat.S_IWGRP | stat.S_IWOTH) and not mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise _writable_problem(self.path, info)
        if current != mode and current not in accept:
            try:
                os.fchmod(self._fd, mode)
            except OSError as err:
                raise store_error(self.path, err, "change the mode of") from err

    def set_access(self, mode: int, group: int | None = None) -> None:
        """Give this directory `mode` and (when not None) the group `group`. Never grants
        write to group or others."""
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ValueError("a directory acmecf trusts is never writable by group or others")
        try:
            if group is not None and os.fstat(self._fd).st_gid != group:
                os.fchown(self._fd, -1, group)
            os.fchmod(self._fd, mode)
        except OSError as err:
            raise store_error(self.path, err, "change the mode or group of") from err

    # --- files -----------------------------------------------------------------------------

    def read_bytes(self, name: str) -> bytes | None:
        """The content of the regular file `name`, or None when it does not exist.

        Refuses a link, a non-regular file, a foreign owner or group/other write.
        """
        check_component(name)
        path = self.path / name
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=self._fd
            )
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UnsafePathError(
                    f"{path} is a symbolic link: acmecf never follows links inside its "
                    "configuration directory; replace it with the file itself",
                    path=str(path),
                ) from err
            raise store_error(path, err, "read") from err
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafePathError(f"{path} is not a regular file: remove it", path=str(path))
            check_trusted_file(path, info)
            chunks = []
            total = 0
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                total += len(chunk)
                if total > _READ_LIMIT:
                    raise StoreError(f"{path} is larger than any file acmecf writes: remove it")
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as err:
            raise store_error(path, err, "read") from err
        finally:
            os.close(fd)

    def write_atomic(
        self, name: str, data: bytes, mode: int = 0o600, *, group: int | None = None
    ) -> None:
        """Replace `name` with `data` in one step (temporary file, fsync, rename, fsync of the
        directory). The file never exists with looser permissions than `mode`; with `group`,
        it belongs to that group before it gets its mode. What the rename replaces must be a
        regular file (or nothing): a link or directory there is refused. Raises StoreError
        (disk full named as such), leaving any previous file untouched.
        """
        check_component(name)
        path = self.path / name
        existing = self.lstat(name)
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise UnsafePathError(
                f"{path} is not a regular file (a link or directory is in its place): remove it",
                path=str(path),
            )
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=self._fd,
            )
        except OSError as err:
            raise store_error(path, err) from err
        try:
            try:
                if group is not None:
                    os.fchown(fd, -1, group)
                os.fchmod(fd, mode)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
            self.sync()
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self._fd)
            raise store_error(path, err) from err

    def lstat(self, name: str) -> os.stat_result | None:
        """`name`'s own status (a link is not followed), or None when it does not exist."""
        check_component(name)
        try:
            return os.stat(name, dir_fd=self._fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise store_error(self.path / name, err, "read") from err

    def names(self) -> list[str]:
        """The names in this directory, sorted (dot-files included)."""
        try:
            with os.scandir(self._fd) as entries:
                return sorted(entry.name for entry in entries)
        except OSError as err:
            raise store_error(self.path, err, "list") from err

    def readlink(self, name: str) -> str | None:
        """The target of the link `name`, None when it does not exist; StoreError when `name` is
        not a link."""
        check_component(name)
        try:
            return os.readlink(name, dir_fd=self._fd)
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno == errno.EINVAL:
                raise UnsafePathError(
                    f"{self.path / name} is not a link acmecf made: move it away and run again",
                    path=str(self.path / name),
                ) from err
            raise store_error(self.path / name, err, "read") from err

    def replace_symlink(self, name: str, target: str) -> None:
        """Point the link `name` at `target` in one rename (a new link, then rename over the
        old one), then fsync the directory. Refuses to replace anything but a link."""
        check_component(name)
        existing = self.lstat(name)
        if existing is not None and not stat.S_ISLNK(existing.st_mode):
            raise UnsafePathError(
                f"{self.path / name} is not an acmecf link (a file or directory is in its place): "
                "move it away and run again",
                path=str(self.path / name),
            )
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.symlink(target, temporary, dir_fd=self._fd)
            os.rename(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
            self.sync()
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self._fd)
            raise store_error(self.path / name, err) from err

    def remove(self, name: str) -> bool:
        """Remove the file or link `name`; False when it was not there."""
        check_component(name)
        try:
            os.unlink(name, dir_fd=self._fd)
            return True
        except FileNotFoundError:
            return False
        except OSError as err:
            raise store_error(self.path / name, err, "remove") from err

    def remove_tree(self, name: str) -> None:
        """Remove the directory `name` and everything in it, never following a link."""
        check_component(name)
        info = self.lstat(name)
        if info is None:
            return
        if not stat.S_ISDIR(info.st_mode):
            self.remove(name)
            return
        try:
            shutil.rmtree(name, dir_fd=self._fd)
        except OSError as err:
            raise store_error(self.path / name, err, "remove") from err

    def rename(self, source: str, target: str) -> None:
        """Rename `source` to `target` inside this directory, then fsync it."""
        check_component(source)
        check_component(target)
        try:
            os.rename(source, target, src_dir_fd=self._fd, dst_dir_fd=self._fd)
            self.sync()
        except OSError as err:
            raise store_error(self.path / target, err) from err

    def mkdir_exclusive(self, name: str, mode: int = 0o700) -> bool:
        """Create the directory `name`; False when something of that name exists."""
        check_component(name)
        try:
            os.mkdir(name, mode, dir_fd=self._fd)
        except FileExistsError:
            return False
        except OSError as err:
            raise store_error(self.path / name, err, "create") from err
        return True

    def create_file(self, name: str, mode: int = 0o600) -> int:
        """A descriptor for writing the new file `name` (created `mode`, appended to; never
        through a link; FileExistsError when something of that name is there)."""
        check_component(name)
        try:
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=self._fd,
            )
        except FileExistsError:
            raise
        except OSError as err:
            raise store_error(self.path / name, err, "create") from err
        try:
            os.fchmod(fd, mode)
        except OSError:
            os.close(fd)
            raise
        return fd

    def open_lock_file(self, name: str) -> int:
        """A descriptor of the lock file `name` (created 0600, never through a link)."""
        check_component(name)
        try:
            fd = os.open(
                name,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=self._fd,
            )
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UnsafePathError(
                    f"{self.path / name} is a symbolic link: remove it", path=str(self.path / name)
                ) from err
            raise store_error(self.path / name, err, "open") from err
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _trusted_owner(info):
            os.close(fd)
            raise UnsafePathError(
                f"{self.path / name} is not a lock file acmecf made: remove it",
                path=str(self.path / name),
            )
        return fd

    def sync(self) -> None:
        """fsync the directory, so renames and new names in it survive a power loss."""
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise store_error(self.path, err) from err

    def free_bytes(self) -> int:
        """Bytes (and, as bytes, inodes: the smaller counts) free for an unprivileged writer."""
        info = os.fstatvfs(self._fd)
        space = info.f_bavail * info.f_frsize
        inodes = info.f_favail if info.f_files else 1 << 30
        return space if inodes > 16 else 0

    def fileno(self) -> int:
        return self._fd

    # --- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SafeDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


@contextlib.contextmanager
def opened(directory: SafeDir) -> Iterator[SafeDir]:
    """Close `directory` when the block ends."""
    try:
        yield directory
    finally:
        directory.close()


def write_file_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace a file outside the configuration directory (a metrics file, certbot's renewal
    file) in one step: temporary file beside it, fsync, rename, fsync of the directory."""
    parent = path.parent
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise store_error(path, err) from err
    directory = SafeDir(fd, parent)
    try:
        directory.write_atomic(path.name, data, mode)
    finally:
        directory.close()
