"""The topics dealstream reads and writes, and creating them on a cluster."""
