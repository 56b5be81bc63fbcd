"""SRA-MCTS Studio core: plain Python, usable from the CLI, tests and notebooks.

Never imports gradio, ``ui``, ``cli`` or ``launch``; its packages import only from the layers below them
(see README "Layout" and the import-linter contract in pyproject.toml).
"""
