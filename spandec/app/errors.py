"""The app's user-facing errors: messages written for the user, shown in the UI as they are."""

from __future__ import annotations

__all__ = ["InputError", "EmptyInput"]


class InputError(ValueError):
    """A problem with the user's input; the message is written for the user and shown in the UI."""


class EmptyInput(InputError):
    """No text to work on (empty or whitespace only)."""
