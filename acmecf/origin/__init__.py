"""The origin lock-down: only Cloudflare talks to the origin, over a connection it verifies.

`check` (with `handshake`, the I/O half, and `findings`, the pure half) looks at the origin as
Cloudflare's edge meets it; `strict` makes Full (strict) a checked step; `pulls` sets up
Authenticated Origin Pulls (Cloudflare's shared CA or a private one); `webserver` renders
nginx and Apache configuration that uses all of it.
"""
