"""Opening the store that the settings choose: the configuration directory's FileStore, or, for
an origin of a fleet, a FleetStore over etcd.

Opening an etcd store reads the fleet key and the etcd password file and checks the TLS files
(one line saying what to fix when one is missing or unsafe); it does not connect: the first
request does, and every request fails with one line naming the etcd endpoints.

Does not: choose (settings.store does), or keep the store open between commands.
"""

from __future__ import annotations

from pathlib import Path

from acmecf.errors import FleetKeyError
from acmecf.settings.store import SYSTEMD_CREDENTIAL, StoreSettings
from acmecf.storage.files import FileStore


def open_store(config_dir: Path, settings: StoreSettings) -> FileStore:
    """The store of `config_dir` as `settings` choose it. Raises UsageError (FleetKeyError)
    for a missing or unreadable fleet key or etcd file."""
    if not settings.shared:
        return FileStore(config_dir)
    from acmecf.storage.etcd.client import EtcdClient, EtcdSettings
    from acmecf.storage.etcd.store import EtcdStore
    from acmecf.storage.fleet import FleetStore
    from acmecf.storage.fleet_key import read_key_file

    if settings.key_file is None:
        raise FleetKeyError(
            f"the etcd store {settings.url} needs the fleet key that encrypts private keys: "
            "pass --store-key-file FILE (or set ACMECF_STORE_KEY_FILE, key_file in [store] of "
            f"acmecf.toml, or LoadCredential={SYSTEMD_CREDENTIAL}:FILE); make the key once with "
            "`head -c 32 /dev/urandom > /etc/acmecf/store.key` and copy it to every origin"
        )
    key = read_key_file(settings.key_file, f"fleet key ({settings.key_source})")
    scheme = "https" if settings.tls else "http"
    client = EtcdClient(
        EtcdSettings(
            endpoints=tuple(f"{scheme}://{endpoint}" for endpoint in settings.endpoints),
            ca_file=settings.ca_file,
            cert_file=settings.cert_file,
            key_file=settings.client_key_file,
            user=settings.user,
            password_file=settings.password_file,
            timeout=settings.timeout,
        )
    )
    shared = EtcdStore(
        client,
        settings.prefix,
        key,
        origin=settings.origin,
        lease_ttl=settings.lease_ttl,
        location=f"etcd://{','.join(settings.endpoints)}{settings.prefix}",
    )
    return FleetStore(config_dir, shared, lock_wait=settings.lock_wait)
