"""nginx and Apache configuration as acmecf renders it, and the annotated examples that must
say the same thing."""

from __future__ import annotations

from pathlib import Path

import pytest

from acmecf.errors import UsageError
from acmecf.origin.webserver import Site, directives, render_apache, render_nginx

ROOT = Path(__file__).resolve().parents[2]
LIVE = Path("/etc/acmecf/live/example.com")
PULL_CA = Path("/etc/acmecf/origin-pull/cloudflare-origin-pull-ca.pem")


def site(**changes: object) -> Site:
    values: dict[str, object] = {
        "name": "example.com",
        "fullchain": LIVE / "fullchain.pem",
        "privkey": LIVE / "privkey.pem",
    }
    values.update(changes)
    return Site(**values)  # type: ignore[arg-type]


def server_blocks(text: str) -> list[list[str]]:
    """The directives of each top-level `server { ... }` block."""
    blocks: list[list[str]] = []
    depth = 0
    for line in directives(text):
        if line == "server {" and depth == 0:
            blocks.append([])
            depth = 1
            continue
        if line.endswith("{"):
            depth += 1
        elif line == "}":
            depth -= 1
            if depth == 0:
                continue
        blocks[-1].append(line)
    return blocks


def test_nginx_serves_the_full_chain_and_the_key_never_cert_pem() -> None:
    text = render_nginx(site())
    assert f"ssl_certificate {LIVE / 'fullchain.pem'};" in directives(text)
    assert f"ssl_certificate_key {LIVE / 'privkey.pem'};" in directives(text)
    assert "cert.pem" not in text


def test_nginx_refuses_unknown_names_in_a_default_server_first() -> None:
    default, named = server_blocks(render_nginx(site()))
    assert "listen 443 ssl default_server;" in default
    assert "listen [::]:443 ssl default_server;" in default
    assert "ssl_reject_handshake on;" in default
    assert "return 444;" in default
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in default, "nginx takes the version from here"
    assert "server_name example.com;" in named
    assert not any("default_server" in line for line in named)


def test_nginx_demands_the_origin_pull_client_certificate_when_pulls_are_on() -> None:
    _, named = server_blocks(render_nginx(site(client_ca=PULL_CA)))
    assert f"ssl_client_certificate {PULL_CA};" in named
    assert "ssl_verify_client on;" in named
    assert "ssl_verify_depth 1;" in named


def test_nginx_does_not_verify_clients_when_pulls_are_off() -> None:
    text = render_nginx(site())
    assert "ssl_verify_client" not in text
    assert "ssl_client_certificate" not in text


def test_nginx_listens_where_asked_and_proxies_to_the_application() -> None:
    text = render_nginx(site(listen="127.0.0.1:8443", upstream="http://127.0.0.1:8080"))
    lines = directives(text)
    assert "listen 127.0.0.1:8443 ssl default_server;" in lines
    assert "listen 127.0.0.1:8443 ssl;" in lines
    assert not any("[::]" in line for line in lines)
    assert "proxy_pass http://127.0.0.1:8080;" in lines


@pytest.mark.parametrize("listen", ["", "443; include /etc/passwd", "a b"])
def test_a_listen_value_that_would_inject_directives_is_refused(listen: str) -> None:
    with pytest.raises(UsageError, match="--listen"):
        render_nginx(site(listen=listen))


def test_a_proxy_pass_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(UsageError, match="--proxy-pass"):
        render_nginx(site(upstream="127.0.0.1:8080; return 200"))


def test_apache_puts_a_catch_all_first_and_requires_the_client_certificate() -> None:
    text = render_apache(site(client_ca=PULL_CA))
    lines = directives(text)
    first, second = (i for i, line in enumerate(lines) if line.startswith("<VirtualHost"))
    assert lines[first + 1] == "ServerName invalid.invalid"
    assert "Require all denied" in lines[first:second]
    named = lines[second:]
    assert "ServerName example.com" in named
    assert f"SSLCertificateFile {LIVE / 'fullchain.pem'}" in named
    assert f"SSLCACertificateFile {PULL_CA}" in named
    assert "SSLVerifyClient require" in named
    assert "SSLVerifyDepth 1" in named
    assert "SSLStrictSNIVHostCheck on" in lines


def test_apache_without_origin_pulls_verifies_no_client() -> None:
    assert "SSLVerifyClient" not in render_apache(site())


@pytest.mark.parametrize(
    ("example", "render"),
    [
        ("examples/nginx/example.com.conf", render_nginx),
        ("examples/apache/example.com.conf", render_apache),
    ],
)
def test_the_annotated_examples_say_exactly_what_acmecf_renders(
    example: str, render: object
) -> None:
    assert callable(render)
    expected = render(site(client_ca=PULL_CA, upstream="http://127.0.0.1:8080"))
    assert directives((ROOT / example).read_text()) == directives(expected)


@pytest.mark.parametrize(
    ("field", "value", "option"),
    [
        ("name", "x.example.com; include /etc/shadow", "NAME"),
        ("name", "x.example.com\n</VirtualHost>", "NAME"),
        ("upstream", "http://x; include /etc/shadow", "--proxy-pass"),
        ("upstream", "http://127.0.0.1:8080/ }", "--proxy-pass"),
        ("upstream", "http://x\nProxyPass / http://evil/", "--proxy-pass"),
        ("listen", "443; include /etc/shadow", "--listen"),
        ("root", Path("/var/www; include /etc/shadow"), "--root"),
        ("client_ca", Path('/etc/ca.pem"'), "--client-ca"),
    ],
)
def test_a_value_that_could_inject_a_directive_is_refused(
    field: str, value: object, option: str
) -> None:
    import dataclasses

    site = dataclasses.replace(
        Site(name="www.example.com", fullchain=Path("/f.pem"), privkey=Path("/k.pem")),
        **{field: value},
    )
    for render in (render_nginx, render_apache):
        with pytest.raises(UsageError, match=f"invalid {option}"):
            render(site)
