"""An opportunity's state (stage visit, marks of what fired, pending moves): pure, stored in the
`opportunities` table by the opportunities engine, read by triggers, stage automation and the
pipeline books."""
