"""The search tree as data: nodes, records, events, tree files, replay, snapshot and tree queries.

Layer 3: imports from layers 1-2 (problems, config); never from search, store or above.
"""
