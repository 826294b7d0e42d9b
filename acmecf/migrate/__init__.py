"""Moving in from other ACME clients: `certbot` takes certbot dns-cloudflare lineages over."""
