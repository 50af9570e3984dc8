"""The one state engine: batches of inputs, one writer per table, one outbox.

See docs/design.md.
"""
