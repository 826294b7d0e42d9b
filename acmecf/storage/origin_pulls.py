"""The files of Authenticated Origin Pulls in the configuration directory.

Layout (the private CA's and the client certificate's keys 0600)::

    <config>/origin-pull/cloudflare-origin-pull-ca.pem    Cloudflare's shared CA (0644)
    <config>/origin-pull/<zone>/state.json                what is enabled, with which ids
    <config>/origin-pull/<zone>/ca.pem                    the private CA, for the web server
    <config>/origin-pull/<zone>/ca-key.pem                its key (0600)
    <config>/origin-pull/<zone>/client.pem, client-key.pem  the client certificate (0600)

Directories are 0700 like the rest of the configuration directory (web servers read their
certificates as root before dropping privileges). Writes are atomic, reached without following
links.

Does not: create keys or certificates (origin.pulls does), talk to Cloudflare.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from acmecf.errors import StoreError
from acmecf.names import check_cert_name
from acmecf.storage.files import FileStore
from acmecf.storage.safe import SafeDir

SHARED_CA_FILE = "cloudflare-origin-pull-ca.pem"
ROOT = "origin-pull"
SHARED = "shared"
OWN_CA = "own-ca"


@dataclass
class OriginPullState:
    """What acmecf set up for one zone. `zone_level` is None (off), "shared" or "own-ca";
    `hostnames` maps each host name with its own association to its certificate id."""

    zone_id: str
    zone_name: str
    zone_level: str | None = None
    zone_certificate_id: str | None = None
    hostnames: dict[str, str] = field(default_factory=dict)
    credentials_file: str | None = None

    def mode_for(self, name: str) -> str | None:
        """Which CA the origin must trust for `name`: "own-ca", "shared" or None (no pulls)."""
        if name.lower() in self.hostnames:
            return OWN_CA
        return self.zone_level

    def uses_own_ca(self) -> bool:
        return self.zone_level == OWN_CA or bool(self.hostnames)


class OriginPullFiles:
    """The `origin-pull/` part of a FileStore."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self.root = store.config_dir / ROOT

    def exists(self) -> bool:
        """Whether anything was ever set up (cheap: one stat; no import of cryptography)."""
        return self.root.is_dir()

    @contextmanager
    def _directory(
        self, zone_name: str | None = None, *, create: bool = True
    ) -> Iterator[SafeDir | None]:
        with self._store.directory(create=create) as config:
            if config is None:
                yield None
                return
            root = config.child(ROOT) if create else config.maybe_child(ROOT)
            if root is None:
                yield None
                return
            with root:
                if zone_name is None:
                    yield root
                    return
                zone = check_cert_name(zone_name, "zone name")
                child = root.child(zone) if create else root.maybe_child(zone)
                if child is None:
                    yield None
                    return
                with child:
                    yield child

    # paths, for web server configuration and messages -----------------------------------

    @property
    def shared_ca(self) -> Path:
        return self.root / SHARED_CA_FILE

    def zone_dir(self, zone_name: str) -> Path:
        return self.root / zone_name

    def ca(self, zone_name: str) -> Path:
        return self.zone_dir(zone_name) / "ca.pem"

    def ca_key(self, zone_name: str) -> Path:
        return self.zone_dir(zone_name) / "ca-key.pem"

    def client(self, zone_name: str) -> Path:
        return self.zone_dir(zone_name) / "client.pem"

    def client_key(self, zone_name: str) -> Path:
        return self.zone_dir(zone_name) / "client-key.pem"

    def ca_file_for(self, state: OriginPullState, name: str) -> Path | None:
        """The CA file the web server must trust for `name`, or None when pulls are off."""
        mode = state.mode_for(name)
        if mode == OWN_CA:
            return self.ca(state.zone_name)
        if mode == SHARED:
            return self.shared_ca
        return None

    # content -----------------------------------------------------------------------------

    def write_shared_ca(self, pem: bytes) -> Path:
        with self._directory() as root:
            assert root is not None
            root.write_atomic(SHARED_CA_FILE, pem, 0o644)
        return self.shared_ca

    def read(self, zone_name: str, file_name: str) -> bytes | None:
        """One of the zone's files (ca.pem, ca-key.pem, client.pem, client-key.pem), or None."""
        with self._directory(zone_name, create=False) as zone:
            return zone.read_bytes(file_name) if zone is not None else None

    def write(self, zone_name: str, files: dict[str, tuple[bytes, int]]) -> None:
        """Write the zone's files, in the order given (name -> (content, mode))."""
        with self._directory(zone_name) as zone:
            assert zone is not None
            for file_name, (data, mode) in files.items():
                zone.write_atomic(file_name, data, mode)

    # state -------------------------------------------------------------------------------

    def load(self, zone_name: str) -> OriginPullState | None:
        data = self.read(zone_name, "state.json")
        if data is None:
            return None
        path = self.zone_dir(zone_name) / "state.json"
        try:
            raw = json.loads(data)
            hostnames = raw.get("hostnames") or {}
            if not isinstance(hostnames, dict):
                raise TypeError("hostnames is not an object")
            return OriginPullState(
                zone_id=str(raw["zone_id"]),
                zone_name=str(raw["zone_name"]),
                zone_level=_optional(raw.get("zone_level"), (SHARED, OWN_CA)),
                zone_certificate_id=_text(raw.get("zone_certificate_id")),
                hostnames={str(k): str(v) for k, v in hostnames.items()},
                credentials_file=_text(raw.get("credentials_file")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreError(
                f"cannot read {path}: {err}; fix it, or remove it and run "
                "`acmecf cloudflare origin-pulls enable` again"
            ) from err

    def save(self, state: OriginPullState) -> None:
        data = json.dumps(dataclasses.asdict(state), indent=2, sort_keys=True) + "\n"
        self.write(state.zone_name, {"state.json": (data.encode(), 0o600)})

    def states(self) -> list[OriginPullState]:
        """Every zone's state, by zone name."""
        with self._directory(create=False) as root:
            if root is None:
                return []
            zones = [n for n in root.names() if not n.startswith(".") and n != SHARED_CA_FILE]
        found = []
        for zone in zones:
            state = self.load(zone)
            if state is not None:
                found.append(state)
        return found

    def state_for_name(self, name: str) -> OriginPullState | None:
        """The state of the zone that holds host name `name` (longest zone name wins)."""
        from acmecf.names import zone_of

        states = {state.zone_name: state for state in self.states()}
        zone = zone_of(name, states)
        return states[zone] if zone is not None else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _optional(value: object, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise ValueError(f"zone_level {value!r} is not one of {', '.join(allowed)}")
    return str(value)
