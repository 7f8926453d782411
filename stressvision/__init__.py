"""StressVision: a DVC pipeline that trains edge-ready emotion and stress recognizers."""

from stressvision.hardware import prefer_onednn

__version__ = "0.1.0"

prefer_onednn()  # before any module of the package loads TensorFlow
