"""Talking to the mail server named by DOCSIGN_SMTP_URL (smtplib, standard library)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from docsign.errors import ConfigError, InvalidInput, ServiceUnavailable

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TIMEOUT_SECONDS = 30


class MailServerUnavailable(ServiceUnavailable):
    """The mail server does not answer or answers 4xx: the message is tried again later."""

    code = "mail_server_unavailable"
    title = "The mail server is unavailable"


class MailRefused(InvalidInput):
    """The mail server refused the message for good (5xx): trying again would not help."""

    code = "mail_refused"
    title = "The mail server refused the message"


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    def describe(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://...``. Messages never echo the password."""
    usage = "DOCSIGN_SMTP_URL must look like smtp://[user:password@]host[:port] or smtps://..."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(usage) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(usage)
    options = parse_qs(parts.query)
    starttls = options.get("starttls", ["0"])[-1].lower() in {"1", "true", "yes", "on"}
    return SmtpTarget(parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme],
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None, starttls)


def send_bytes(target: SmtpTarget, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
    """Hand ``message`` (already signed, CRLF line ends) to the server for ``recipients``."""
    try:
        if target.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT_SECONDS,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_SECONDS)
        with client:
            if target.starttls:
                client.starttls(context=ssl.create_default_context())
            if target.username:
                client.login(target.username, target.password or "")
            client.sendmail(envelope_from, list(recipients), message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailRefused(f"{target.describe()} refused every recipient: {', '.join(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        if 500 <= exc.smtp_code < 600:
            raise MailRefused(f"{target.describe()} refused the message: {exc.smtp_code} {text}") from None
        raise MailServerUnavailable(f"{target.describe()} answered {exc.smtp_code} {text}: tried again later") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise MailServerUnavailable(f"the mail server {target.describe()} cannot be reached "
                                    f"({type(exc).__name__}: {exc}): tried again later") from None
