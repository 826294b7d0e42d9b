"""Storage: the seam between acmecf and wherever certificates, accounts, locks and the
challenge-record journal live.

`contracts` states what every backend promises; `files.FileStore` keeps them in the
configuration directory, reached through `safe` (the trust boundary: no link followed, nothing
trusted that another user could have written); `origin_pulls` keeps the origin-pull files.
Nothing outside this package builds a path under the configuration directory.
"""
