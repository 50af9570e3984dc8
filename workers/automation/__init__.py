"""Stage automation: buyer actions and timers ask the CRM to move opportunities (pure core)."""
