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
- ``zones``: ``GET /zones`` with the documented filters (``name`` and ``account.name``
  with their operators, ``status``, ``account.id``, ``type``, ``match``), order and pages;
  ``GET /zones/{zone_id}``. Zones have a status and a plan, shown as the API shows them;
  ``add_zones(n)`` makes accounts of thousands of zones cheaply.
- ``dns_records``: list (filters, order, pages), create, read, edit (PATCH), overwrite
  (PUT), delete and batch A, AAAA, CNAME and TXT records, with the API's validation, clash
  rules, proxying, per-zone record quota (81045) and tag quota (1004 with its
  ``error_chain``); the batch runs deletes, patches, puts, posts in one transaction, limited
  per plan.
- ``zone_settings``: the ``ssl`` and ``tls_client_auth`` settings.
- ``origin_pulls``: Authenticated Origin Pulls certificates at zone and host name level
  (``pending_deployment`` for a settable time, then ``active``), zone enablement, host name
  associations, and which certificate the edge presents to an origin.
- ``origin_ca``: Origin CA certificates signed by an emulated root, listed and revoked.
- ``auth``, ``ratelimit``, ``faults``, ``server``: credentials and their errors; the
  global limit of 1,200 requests per 5 minutes per user across that user's tokens, with
  ``Ratelimit``/``Ratelimit-Policy`` headers and 429 971 with ``Retry-After``; seeded
  faults (429, 5xx before or after a write is applied, an API that never answers, one
  that answers late, record names it refuses); the HTTP server and a request log that
  names each route.
- ``nameservers`` (with ``acmecf.sandbox.dns_server``): what each nameserver and the
  resolver serve over UDP and TCP at each moment, per-nameserver delays, unreachable and
  IPv6-only nameservers, and a resolver that can lag them all.

Where the real behaviour is known from Cloudflare's documentation or from responses
quoted in public bug reports, the code cites it; choices the sources do not settle are
marked "not verified".

Not emulated: zone creation, deletion or activation through the API; record types other
than A/AAAA/CNAME/TXT; the other products of the API (Workers, WAF, caching, custom
hostnames...); the separate ``list_zones`` rate-limit policy and the per-IP limit; HTTPS;
DNSSEC; persistence.
"""

from acmecf.sandbox.dns_server import DnsQuery
from acmecf.sandbox.emulator.control import CloudflareEmulator
from acmecf.sandbox.emulator.origin_pulls import EdgeClientCertificate
from acmecf.sandbox.emulator.server import ApiRequest
from acmecf.sandbox.emulator.state import Nameserver

__all__ = ["ApiRequest", "CloudflareEmulator", "DnsQuery", "EdgeClientCertificate", "Nameserver"]
