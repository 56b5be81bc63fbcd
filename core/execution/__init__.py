"""The sandbox: runs untrusted code on tests in a child process, with limits, and returns a plain verdict.

Layer 2: imports only from layer 1 (``core.problems``, ``core.atomic``, ``core.paths``).
"""
