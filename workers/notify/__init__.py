"""Rep notifications (source 001): what a rep must know now, each with a deterministic id."""
