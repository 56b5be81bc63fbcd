"""Curation: candidate paths, the review queue, exports, their formats and the dataset card.

Layer 5: imports from layers 1-4; never from ``core.evaluation`` (its sibling) or above.
"""
