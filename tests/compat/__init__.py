"""Compatibility with aio-request 0.2.9: its deprecated names and the behaviours its users rely on."""
