"""Decoding and validating input events; dead letters for what cannot be used; dedupe."""
