"""DNS for challenges: the provider contract (`provider`), the journal that makes every record
removable after any crash (`journaled`), and the propagation wait (`propagation`).

Knows nothing of Cloudflare (cloudflare.dns implements the contract) or of ACME.
"""
