"""The `dealstream` command line."""
