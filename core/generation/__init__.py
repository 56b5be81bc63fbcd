"""Batch data generation: spec, the resumable run over many problems, and its output folder.

Layer 6: imports from layers 1-5; never from ``core.training``.
"""
