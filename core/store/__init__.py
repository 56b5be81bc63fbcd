"""SQLite storage: opening the database, schema and migrations, runs and their rows, annotations, run filters.

Layer 4: imports from layers 1-3; never from ``core.search`` (its sibling) or above.
"""
