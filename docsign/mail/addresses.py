"""E-mail addresses as people type them: checked (syntax only, no DNS) and normalised in one place."""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from docsign.errors import DocsignError, InvalidInput

MAX_RECIPIENTS = 20


def checked_address(value: str, what: str = "e-mail address",
                    error: type[DocsignError] = InvalidInput) -> str:
    """``value`` normalised, or ``error`` with one line saying why it is not an e-mail address."""
    text = (value or "").strip()
    try:
        # No deliverability (DNS) check: docsign talks to loopback and the configured mail server only.
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise error(f"{what} {text!r} is not an e-mail address: {exc}") from None


def checked_addresses(values: Iterable[str], what: str = "e-mail address") -> list[str]:
    """Addresses from values that may each hold several, comma-separated; duplicates dropped."""
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                address = checked_address(part, what)
                if address.lower() not in {a.lower() for a in found}:
                    found.append(address)
    if not found:
        raise InvalidInput(f"give at least one {what}")
    if len(found) > MAX_RECIPIENTS:
        raise InvalidInput(f"at most {MAX_RECIPIENTS} addresses per message, not {len(found)}")
    return found
