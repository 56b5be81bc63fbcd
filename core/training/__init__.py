"""LoRA fine-tuning: config and presets, data checks, jobs as subprocesses, job files, the worker.

Layer 6: imports from layers 1-5; never from ``core.generation``.
"""
