"""The MCTS engine: the loop, selection, backprop, steering, the reasoner (LLM roles), parsing, grounding, re-scoring.

Layer 4: imports from layers 1-3; never from ``core.store`` (its sibling) or above.
"""
