"""The mathematics and the data. Imports nothing of the other subpackages."""
