"""The Gradio studio: one file per tab, handlers as plain functions, the session registry. No search logic here.

Layer 7: imports ``core``; never ``cli`` or ``launch``.
"""
