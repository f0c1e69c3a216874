"""argparse types shared by the command lines (``spandec``, the app's options): each turns a library check's
``ValueError`` into a usage error naming the value."""

from __future__ import annotations

import argparse

from .models.runtime import check_precision
from .spans import check_threshold

__all__ = ["positive_int", "minutes", "tag_column", "threshold", "precision"]


def _usage(check):
    def parse(value: str):
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = check.__name__
    return parse


def positive_int(value: str) -> int:
    """argparse type of counts and sizes: an integer of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def minutes(value: str) -> float:
    """argparse type of a period in minutes: a finite number of at least 0."""
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {value!r}") from None
    if not 0 <= n < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {value!r}")
    return n


def tag_column(value: str) -> int:
    """argparse type of --tag-column: a column index other than 0 (the word); negative counts from the end."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a column number, got {value!r}") from None
    if n == 0:
        raise argparse.ArgumentTypeError("column 0 is the word; the tag is 1 or later, or -1 for the last column")
    return n


#: argparse type of --threshold: :func:`spandec.spans.check_threshold` as a usage error
threshold = _usage(check_threshold)
#: argparse type of --precision: :func:`spandec.models.runtime.check_precision` as a usage error
precision = _usage(check_precision)
