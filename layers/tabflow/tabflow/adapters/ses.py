"""Mailer on Amazon SES: one MIME message with a plain-text and an HTML part.

Two guards sit here, where every email of every function passes: each header is sanitized
(emails.header_text: one line, no control characters, bounded), and recipients outside the
recipient policy (recipients.py: the AlertRecipients and the allowed domains) are dropped,
logged, and named in a note appended to the email."""

from email.message import EmailMessage
from html import escape
from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.emails import header_text
from tabflow.errors import TransientError
from tabflow.observability import logger
from tabflow.ports import Email
from tabflow.recipients import Dropped, RecipientPolicy


def to_mime(email: Email, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_text(email.subject)
    msg["From"] = header_text(sender, 254)
    msg["To"] = ", ".join(header_text(r, 254) for r in recipients)
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg


def with_dropped_note(email: Email, dropped: list[Dropped]) -> Email:
    note = "Not sent to (recipient policy): " + "; ".join(str(d) for d in dropped)
    html = email.html.replace(
        "</body>", f"<p style='font-family:sans-serif;color:#a00'>{escape(note)}</p></body>", 1
    )
    return Email(subject=email.subject, text=f"{email.text}\n\n{note}", html=html)


class SesMailer:
    def __init__(
        self, sender: str, ses: Any | None = None, policy: RecipientPolicy | None = None
    ) -> None:
        """``policy``: by default the function's own (settings: ALERT_RECIPIENTS and
        ALLOWED_RECIPIENT_DOMAINS), so every function that mails enforces it."""
        if policy is None:
            from tabflow.settings import MailSettings

            policy = MailSettings().recipient_policy
        self._sender = sender
        self._ses = ses or client("ses")
        self._policy = policy

    def send(self, email: Email, recipients: list[str]) -> str:
        chosen = self._policy.resolve(recipients)
        if chosen.dropped:
            logger.warning(
                "recipients dropped by the recipient policy",
                extra={
                    "dropped": [str(d) for d in chosen.dropped],
                    "sent_to": chosen.to,
                    "subject": header_text(email.subject),
                },
            )
            email = with_dropped_note(email, chosen.dropped)
        if not chosen.to:
            raise ValueError("no recipients: set AlertRecipients or the contract's notify list")
        raw = to_mime(email, self._sender, chosen.to).as_bytes()
        try:
            resp = self._ses.send_raw_email(
                Source=self._sender, Destinations=chosen.to, RawMessage={"Data": raw}
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("Throttling", "ServiceUnavailable"):
                raise TransientError(str(exc)) from exc
            raise
        return resp["MessageId"]
