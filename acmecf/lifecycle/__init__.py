"""The life of certificates, run by run: `services` (the collaborators of one run), `obtain`
(one certificate: lock, issue, publish, record, deploy), `renew` (the due ones, in parallel),
`leftovers` (challenge records earlier runs left), `schedule` (when a certificate is due),
`hooks` (running user hooks).

Data flows one way: settings in, through an issuer, into the store, then to hooks. Does not:
parse options or print (the CLI does).
"""
