"""Opportunity owners follow their contact's owner (source 003). Pure; no Faust."""
