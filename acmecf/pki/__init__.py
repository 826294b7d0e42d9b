"""X.509 and keys: private keys of the asked type, CSRs, the checks a downloaded chain must
pass, and small CAs for test beds and origin pulls. Does not talk to the network or write
files."""
