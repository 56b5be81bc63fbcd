"""What a user did wrong, said once: in the page as one line, in the server log as one line.

Gradio prints the whole traceback of every ``gr.Error`` to the log. A refused input is not a
fault of the server, so :class:`UserError` (a ``gr.Error``, shown the same way) logs one line.

Example::

    raise UserError("select a node first (click it in the tree)")
    # log: "INFO sra.studio: refused: select a node first (click it in the tree)"
"""

from __future__ import annotations

import logging

import gradio as gr

log = logging.getLogger("sra.studio")


class UserError(gr.Error):
    """A ``gr.Error`` for input the user can fix: shown in the page, one log line, no traceback."""

    def __init__(self, message: str = "Error raised.", **kwargs) -> None:
        kwargs.setdefault("print_exception", False)
        super().__init__(message, **kwargs)
        log.info("refused: %s", message)
