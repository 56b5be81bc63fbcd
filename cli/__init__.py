"""Headless commands, one module each, with ``add_args(parser)`` and ``run(args) -> int``; ``common`` holds the shared kit.

Layer 7: imports ``core``; never ``ui`` or ``launch``.
"""
