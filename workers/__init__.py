"""dealstream workers: the Faust app, its agents, and the plain-Python domain core they call."""

__version__ = "0.1.0"
