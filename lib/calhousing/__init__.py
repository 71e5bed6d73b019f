"""calhousing: train, quantize and compare a linear regression on California Housing."""

__version__ = "0.1.0"
