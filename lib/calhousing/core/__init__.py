"""The mathematics: data, the linear model, quantization, rounding, integer inference, evaluation
and the sweep. Imports nothing of the other subpackages.
"""
