from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acmecf.errors import CertificateError
from acmecf.pki.chain import verify_chain
from acmecf.pki.keys import generate_key
from acmecf.pki.requests import make_csr

from .x509_factory import TinyCA, pem


@pytest.fixture
def ca() -> TinyCA:
    return TinyCA()


def test_a_good_chain_splits_into_leaf_and_intermediates(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(key, ["example.com", "*.example.com"])
    chain = verify_chain(pem(leaf, ca.intermediate), key, ["example.com", "*.example.com"])
    assert chain.cert_pem == pem(leaf)
    assert chain.chain_pem == pem(ca.intermediate)
    assert chain.fullchain_pem == pem(leaf, ca.intermediate)


def test_a_root_sent_by_the_server_is_dropped_from_the_chain(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(key, ["example.com"])
    chain = verify_chain(pem(leaf, ca.intermediate, ca.root), key, ["example.com"])
    assert chain.chain_pem == pem(ca.intermediate)


def test_a_leaf_for_another_key_is_refused(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(other, ["example.com"])
    with pytest.raises(CertificateError, match="does not match the private key"):
        verify_chain(pem(leaf, ca.intermediate), key, ["example.com"])


def test_a_leaf_missing_a_name_is_refused(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(key, ["example.com"])
    with pytest.raises(CertificateError, match=r"does not cover \*\.example\.com"):
        verify_chain(pem(leaf, ca.intermediate), key, ["example.com", "*.example.com"])


def test_a_leaf_without_intermediates_is_refused(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(key, ["example.com"])
    with pytest.raises(CertificateError, match="without its intermediates"):
        verify_chain(pem(leaf), key, ["example.com"])


def test_an_intermediate_that_did_not_sign_the_leaf_is_refused(ca: TinyCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca.leaf(key, ["example.com"])
    stranger = TinyCA().intermediate
    with pytest.raises(CertificateError, match="chain is broken"):
        verify_chain(pem(leaf, stranger), key, ["example.com"])


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [
        ("ecdsa-p256", ec.EllipticCurvePrivateKey, 256),
        ("ecdsa-p384", ec.EllipticCurvePrivateKey, 384),
        ("rsa-2048", rsa.RSAPrivateKey, 2048),
    ],
)
def test_keys_have_the_asked_type(key_type: str, kind: type, size: int) -> None:
    key = generate_key(key_type)
    assert isinstance(key, kind)
    assert key.key_size == size


def test_the_csr_names_every_name(ca: TinyCA) -> None:
    from cryptography import x509

    key = generate_key("ecdsa-p256")
    csr = x509.load_pem_x509_csr(make_csr(key, ["example.com", "*.example.com"]))
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["example.com", "*.example.com"]
    assert csr.is_signature_valid


def test_must_staple_is_asked_for_only_when_wanted() -> None:
    from cryptography import x509

    key = generate_key("ecdsa-p256")
    plain = x509.load_pem_x509_csr(make_csr(key, ["example.com"]))
    stapled = x509.load_pem_x509_csr(make_csr(key, ["example.com"], must_staple=True))
    with pytest.raises(x509.ExtensionNotFound):
        plain.extensions.get_extension_for_class(x509.TLSFeature)
    feature = stapled.extensions.get_extension_for_class(x509.TLSFeature).value
    assert list(feature) == [x509.TLSFeatureType.status_request]


def test_the_preferred_chain_is_chosen_by_its_top_issuer() -> None:
    from acmecf.pki.chain import choose_chain

    first, second = TinyCA("Old Root X1"), TinyCA("New Root X2")
    key = ec.generate_private_key(ec.SECP256R1())
    default = pem(first.leaf(key, ["example.com"]), first.intermediate).decode()
    alternate = pem(second.leaf(key, ["example.com"]), second.intermediate).decode()
    # The topmost certificate's issuer is what --preferred-chain names, as in certbot.
    assert choose_chain([default, alternate], "New Root X2") == alternate
    assert choose_chain([default, alternate], "Old Root X1") == default
    assert choose_chain([default, alternate], "No Such CA") == default
