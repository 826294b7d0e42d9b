"""The etcd v3 backend of the store, for a fleet of origins sharing certificates.

`client` is the only module that talks to etcd (through the etcd3gw library); the typed errors
it raises are in acmecf.errors. Importing this package does not import the client, so acmecf
starts without loading an etcd client unless the etcd store is in use: import
`acmecf.storage.etcd.client` there.
"""
