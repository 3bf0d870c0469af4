"""Values repeated in messages: a refusal names what it refuses, cut short whatever its length (a link or an API
call can send kilobytes)."""

from __future__ import annotations


def quoted(value: object, limit: int = 60) -> str:
    """``value`` as a message quotes it, at most ``limit`` characters and an ellipsis."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python writes out
        return "a number too long to show"
    return text if len(text) <= limit else text[:limit] + "..."
