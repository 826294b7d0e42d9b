"""ACME (RFC 8555): a thin adapter over certbot's `acme` library, which owns the protocol
itself (JWS, nonces, challenge math).

`network` retries what RFC 8555 says a client may retry (badNonce with the nonce from the error
reply, rateLimited and 503 after Retry-After); `client` is one account's session with one CA;
`accounts` opens it (registering an account the first time) and manages the account;
`orders` orders, answers challenges and finalizes; `problems` turns every failure into an
AcmeError that says what to do. Knows nothing of Cloudflare, DNS propagation or files.
"""
