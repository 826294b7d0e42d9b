"""acmecf: real TLS certificates for origin servers behind Cloudflare, by ACME DNS-01."""

__version__ = "0.1.0"
