"""Citizens (WeChat openids) and staff identities."""
