"""Issuers: who signs a certificate. Each turns a `CertificateRequest` into a verified key and
chain (`IssuedCertificate`) and never writes anything: storing it, recording its state and
running hooks is the caller's (lifecycle.obtain). `acme` is the ACME narrative (DNS-01 through
a DNS provider); `origin_ca` is Cloudflare's Origin CA.
"""
