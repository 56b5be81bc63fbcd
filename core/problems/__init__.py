"""Problems: the problem type, visible tests taken from docstrings, and problem sources (HumanEval splits, JSONL).

Layer 1: imports nothing else from ``core``.
"""
