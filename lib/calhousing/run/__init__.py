"""A run of the pipeline: its artifacts, their schemas and manifest, and the pipeline that writes
them.
"""
