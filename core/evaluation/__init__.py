"""Evaluation: spec and result types, solvers, the run loop, pass@k, reports, the reward report, the eval tables.

Layer 5: imports from layers 1-4; never from ``core.curation`` (its sibling) or above.
"""
