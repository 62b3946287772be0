"""Errors of the reports domain."""

from __future__ import annotations

from docsign.errors import InvalidInput


class InvalidPeriod(InvalidInput):
    """A report period that is malformed, reversed or longer than the longest report (ten years)."""

    code = "invalid_period"
    title = "Invalid report period"
