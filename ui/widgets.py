"""Gradio components with the studio's manners: a bad value's message names the field.

``gr.Number`` refuses an out-of-range value with "Value -3 is less than minimum value 1.",
which does not say which of a panel's numbers is wrong. :class:`Number` is the same component
(the same widget in the page) whose message starts with the field's label.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.errors import UserError


def Number(*args: Any, **kwargs: Any) -> gr.Number:  # noqa: N802 - it stands where gr.Number stood
    """``gr.Number`` whose range errors name the field: "Iterations: -3 is less than the minimum, 1".

    A factory, not a subclass: Gradio writes a ``.pyi`` file beside any module that subclasses a component.
    """
    box = gr.Number(*args, **kwargs)
    checked = box.preprocess

    def preprocess(payload: float | None) -> float | int | None:
        if payload is not None:
            name = box.label or "a number field"
            if box.minimum is not None and payload < box.minimum:
                raise UserError(f"{name}: {payload:g} is less than the minimum, {box.minimum:g}")
            if box.maximum is not None and payload > box.maximum:
                raise UserError(f"{name}: {payload:g} is more than the maximum, {box.maximum:g}")
        return checked(payload)

    box.preprocess = preprocess  # type: ignore[method-assign]
    return box


def optional_count(value: object, name: str) -> int | None:
    """A field that may be left blank (None) or hold a whole number of at least 1; anything else is named."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise UserError(f"{name}: {text!r} is not a whole number (leave it blank for the default)") from None
    if not number.is_integer() or number < 1:
        raise UserError(f"{name}: {text} must be a whole number of at least 1 (or blank)")
    return int(number)
