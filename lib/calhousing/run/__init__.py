"""A run's artifacts on disk: their schemas, manifest and lineage, and their promotion."""
