"""A local stand-in for the Cloudflare v4 API and the Cloudflare nameservers of its zones.

``CloudflareEmulator`` serves the part of ``https://api.cloudflare.com/client/v4`` that
acmecf uses over plain HTTP on a free loopback port, with the same URLs, JSON envelope,
HTTP statuses and error codes as the real API, so the official ``cloudflare`` SDK can be
pointed at it with ``base_url``. Behind the API sit emulated authoritative nameservers (one
loopback address each, one shared port) that see every change only after their own
propagation delay, and a resolver that sees what the most lagging nameserver sees, so
"answered the CA before every nameserver had the value" fails here the way it fails in
production.

Emulated (one module per resource, all behind one route table, ``routes.RouteTable``):

- ``tokens``: ``GET /user/tokens/verify``.
- ``zones``: ``GET /zones`` (filters, order, pages) and ``GET /zones/{zone_id}``.
- ``dns_records``: list (filters, order, pages), create, read and delete A, AAAA, CNAME
  and TXT records, with the API's validation, clash rules and proxying.
- ``zone_settings``: the ``ssl`` and ``tls_client_auth`` settings.
- ``origin_pulls``: Authenticated Origin Pulls certificates at zone and host name level,
  zone enablement, host name associations, and what the edge presents to an origin.
- ``origin_ca``: Origin CA certificates signed by an emulated root, listed and revoked.
- ``auth``, ``ratelimit``, ``faults`` and ``server``: credentials and their errors, the
  global rate limit with 429 971, injected faults, the HTTP server and request log.
- ``nameservers`` (with ``acmecf.sandbox.dns_server``): what each nameserver and the
  resolver serve over UDP and TCP at each moment.

Where the real behaviour is known from Cloudflare's documentation or from responses
quoted in public bug reports, the code cites it; choices the sources do not settle are
marked "not verified".

Not emulated: zone creation through the API, record types other than A/AAAA/CNAME/TXT,
the other products of the API (Workers, WAF, caching...), HTTPS, DNSSEC, persistence.
"""

from acmecf.sandbox.dns_server import DnsQuery
from acmecf.sandbox.emulator.control import CloudflareEmulator
from acmecf.sandbox.emulator.origin_pulls import EdgeClientCertificate
from acmecf.sandbox.emulator.server import ApiRequest
from acmecf.sandbox.emulator.state import Nameserver

__all__ = ["ApiRequest", "CloudflareEmulator", "DnsQuery", "EdgeClientCertificate", "Nameserver"]
