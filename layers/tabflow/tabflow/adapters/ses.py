"""Mailer on Amazon SES: one MIME message with a plain-text and an HTML part."""

from email.message import EmailMessage
from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.errors import TransientError
from tabflow.ports import Email


def to_mime(email: Email, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = email.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg


class SesMailer:
    def __init__(self, sender: str, ses: Any | None = None) -> None:
        self._sender = sender
        self._ses = ses or client("ses")

    def send(self, email: Email, recipients: list[str]) -> str:
        if not recipients:
            raise ValueError("no recipients: set AlertRecipients or the contract's notify list")
        raw = to_mime(email, self._sender, recipients).as_bytes()
        try:
            resp = self._ses.send_raw_email(
                Source=self._sender, Destinations=recipients, RawMessage={"Data": raw}
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("Throttling", "ServiceUnavailable"):
                raise TransientError(str(exc)) from exc
            raise
        return resp["MessageId"]
