"""The Redis serving view: each contact's latest score, and sorted lead lists."""
