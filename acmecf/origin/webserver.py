"""Web server configuration for an origin behind Cloudflare: nginx server blocks and Apache
virtual hosts, rendered from what acmecf holds.

What is rendered, for both servers:

- the site, with the full chain (never cert.pem alone: Cloudflare's Full (strict) mode needs
  the intermediates) and the private key, TLS 1.2 and 1.3 only;
- when origin pulls are on, the CA that signs the client certificate Cloudflare presents, and
  client verification that refuses everyone else (nginx `ssl_verify_client on`; Apache
  `SSLVerifyClient require`, `SSLVerifyDepth 1`);
- a catch-all that refuses unknown host names (nginx: a `default_server` that rejects the
  handshake and answers `return 444`; Apache: the first virtual host, denying everything).

Pure text: does not read certificates, write files or run the servers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from acmecf.errors import InvalidNameError, UsageError

DEFAULT_ROOT = Path("/var/www/html")
# What may appear in a rendered value: nothing that ends a directive (;), opens or closes a
# block ({ } < >), quotes, comments (#), expands ($), escapes (\) or breaks a line.
_PATH = re.compile(r"/[A-Za-z0-9._/+@=,:-]*")
_UPSTREAM = re.compile(
    r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
    r"(?:/[A-Za-z0-9._~/%+=,@:-]*)?"
)
_LISTEN = re.compile(r"\d{1,5}|(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|\*):\d{1,5}")


@dataclass(frozen=True)
class Site:
    """One host name served over TLS.

    `listen` is a port ("443") or an address and port ("127.0.0.1:8443", "[::1]:443"); a bare
    port is rendered for IPv4 and IPv6. `client_ca` is the origin-pull CA when origin pulls
    are on (None: no client verification). `upstream` is an application URL to proxy to;
    without one, files are served from `root`.
    """

    name: str
    fullchain: Path
    privkey: Path
    client_ca: Path | None = None
    listen: str = "443"
    upstream: str | None = None
    root: Path = DEFAULT_ROOT
    cert_name: str | None = None

    def listen_addresses(self) -> list[str]:
        value = self.listen.strip()
        if value.isdigit():
            return [value, f"[::]:{value}"]
        return [value]

    def check(self) -> None:
        """Refuse (UsageError, naming the option) any value that could break out of the
        directive it goes into: a rendered configuration never holds injected directives."""
        from acmecf.names import normalize_name

        try:
            if normalize_name(self.name) != self.name:
                raise InvalidNameError(f"{self.name!r} is not in canonical form")
        except InvalidNameError as err:
            raise UsageError(
                f"invalid NAME {self.name!r}: give a host name such as www.example.com"
            ) from err
        if not _LISTEN.fullmatch(self.listen.strip()):
            raise UsageError(f"invalid --listen {self.listen!r}: give PORT or ADDRESS:PORT")
        if self.upstream is not None and not _UPSTREAM.fullmatch(self.upstream):
            raise UsageError(
                f"invalid --proxy-pass {self.upstream!r}: give http://HOST[:PORT][/PATH], with "
                "no spaces, quotes, ; { } # $ or backslashes"
            )
        for option, path in (
            ("certificate path", self.fullchain),
            ("key path", self.privkey),
            ("--client-ca", self.client_ca),
            ("--root", self.root),
        ):
            if path is not None and not _PATH.fullmatch(str(path)):
                raise UsageError(
                    f"invalid {option} {str(path)!r}: use an absolute path of letters, digits "
                    "and . _ / + @ = , : - only (no spaces, quotes, ; { } # $ or backslashes)"
                )


def render_nginx(site: Site) -> str:
    """nginx configuration for `site`: a refusing default server and the site's server block.

    Goes in the `http` context (conf.d/ or sites-enabled/). Needs nginx 1.19.4 or later for
    `ssl_reject_handshake`.
    """
    site.check()
    addresses = site.listen_addresses()
    lines = [
        f"# acmecf: TLS for {site.name} behind Cloudflare (acmecf nginx-config {site.name}).",
        "# Check and load: nginx -t && systemctl reload nginx",
        "",
        "# Unknown host names: the TLS handshake is rejected (no certificate is shown to",
        "# scanners), and a request whose Host header matches no server_name gets no answer.",
        "server {",
    ]
    lines += [f"    listen {address} ssl default_server;" for address in addresses]
    lines += [
        "    server_name _;",
        "    ssl_reject_handshake on;",
        "    # nginx negotiates the TLS version with the default server's settings, before it",
        "    # picks a server by name: set them here too.",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    return 444;",
        "}",
        "",
        "server {",
    ]
    lines += [f"    listen {address} ssl;" for address in addresses]
    lines += [
        f"    server_name {site.name};",
        "",
        "    # The certificate followed by its intermediates, and its key; acmecf renews both",
        "    # in place: reload nginx after each renewal (a deploy hook).",
        f"    ssl_certificate     {site.fullchain};",
        f"    ssl_certificate_key {site.privkey};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
    ]
    if site.client_ca is not None:
        lines += [
            "",
            "    # Authenticated Origin Pulls: only clients with a certificate from this CA get",
            "    # in, i.e. Cloudflare pulling for your zone.",
            f"    ssl_client_certificate {site.client_ca};",
            "    ssl_verify_client on;",
            "    ssl_verify_depth 1;",
        ]
    lines += ["", "    location / {"]
    if site.upstream is not None:
        lines += [
            f"        proxy_pass {site.upstream};",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-Proto https;",
        ]
    else:
        lines += [f"        root {site.root};"]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def render_apache(site: Site) -> str:
    """Apache 2.4 (>= 2.4.8, mod_ssl) virtual hosts for `site`: a first, catch-all virtual
    host that denies everything, then the site's."""
    site.check()
    value = site.listen.strip()
    address = f"*:{value}" if value.isdigit() else site.listen_addresses()[0]
    certificate = [
        f"    SSLCertificateFile    {site.fullchain}",
        f"    SSLCertificateKeyFile {site.privkey}",
    ]
    lines = [
        f"# acmecf: TLS for {site.name} behind Cloudflare (acmecf apache-config {site.name}).",
        "# Needs mod_ssl (a2enmod ssl; and proxy_http for ProxyPass)."
        " Check and load: apachectl configtest && systemctl reload apache2",
        "",
        "# Refuse clients that send no host name (SNI) at all.",
        "SSLStrictSNIVHostCheck on",
        "",
        f"# The first virtual host on {address} is the catch-all: unknown host names land here",
        "# and are denied.",
        f"<VirtualHost {address}>",
        "    ServerName invalid.invalid",
        "    SSLEngine on",
        "    # Apache takes the TLS version from the first virtual host: set it here too.",
        "    SSLProtocol -all +TLSv1.2 +TLSv1.3",
        *certificate,
        "    <Location />",
        "        Require all denied",
        "    </Location>",
        "</VirtualHost>",
        "",
        f"<VirtualHost {address}>",
        f"    ServerName {site.name}",
        "    SSLEngine on",
        "    SSLProtocol -all +TLSv1.2 +TLSv1.3",
        "    # The certificate followed by its intermediates, and its key.",
        *certificate,
    ]
    if site.client_ca is not None:
        lines += [
            "",
            "    # Authenticated Origin Pulls: only clients with a certificate from this CA get",
            "    # in, i.e. Cloudflare pulling for your zone.",
            f"    SSLCACertificateFile  {site.client_ca}",
            "    SSLVerifyClient require",
            "    SSLVerifyDepth 1",
        ]
    lines.append("")
    if site.upstream is not None:
        lines += [
            f"    ProxyPass        / {site.upstream.rstrip('/')}/",
            f"    ProxyPassReverse / {site.upstream.rstrip('/')}/",
            "    ProxyPreserveHost On",
        ]
    else:
        lines += [f"    DocumentRoot {site.root}"]
    lines += ["</VirtualHost>", ""]
    return "\n".join(lines)


def directives(text: str) -> list[str]:
    """The configuration lines of `text` without comments and blank lines, stripped; for
    comparing an annotated copy with what acmecf renders."""
    result = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#") else ""
        if line:
            result.append(" ".join(line.split()))
    return result
