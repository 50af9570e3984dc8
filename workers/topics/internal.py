"""Names of the internal topics the agents use between themselves (contract names, before the
`DEALSTREAM_TOPIC_PREFIX`). One place, so a feature's runtime never imports another's for a
topic name."""

from __future__ import annotations

TICKS = "dealstream.timer-ticks"
SALES_READY = "dealstream.sales-ready"  # scoring → the router's forward
ORG_MEMBERSHIP = "dealstream.org-membership"  # a contact's organization → its partition
ORG_FIELDS = "dealstream.org-fields"  # an organization's fields → its contacts' partitions
LINKS = "dealstream.contact-opportunities"  # opportunity → its contact's partition
BUYER_ACTIONS = "dealstream.buyer-actions"  # engagement → each open opportunity's partition
ROUTER = "dealstream.router"  # every routing input, one partition
RULES = "dealstream.rules"  # the published rules file, one partition, compacted
