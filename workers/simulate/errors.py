"""What the simulator refuses."""


class SimulationError(ValueError):
    """A simulation asked for something it cannot do (a bad weight, nothing to pick from)."""
