"""The paper's experiment: make training data by each method, fine-tune on each, evaluate them all.

Layer 7 of core: imports generation, training, evaluation and everything below; nothing in core imports it.
"""
