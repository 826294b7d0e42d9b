"""Cloudflare: the only package that imports the Cloudflare SDK (lazily, so commands that never
touch the API start fast).

`api` is the one funnel every request goes through (request budget, 429 waits, retries of
transient faults) and `hints` turns refusals into typed errors whose message names the remedy;
`credentials` loads tokens without ever printing them; `zones` finds zones (one paginator);
`dns` is the DNS provider (dns.provider's contract); `zone_settings`, `origin_pulls` and
`origin_ca` serve the origin lock-down. Each API call has its documentation URL above it.
"""
