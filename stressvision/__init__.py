"""StressVision: a DVC pipeline that trains edge-ready emotion and stress recognizers."""

__version__ = "0.1.0"
