"""Mailer on Amazon SES."""

from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.errors import TransientError
from tabflow.ports import Email


class SesMailer:
    def __init__(self, sender: str, ses: Any | None = None) -> None:
        self._sender = sender
        self._ses = ses or client("ses")

    def send(self, email: Email, recipients: list[str]) -> str:
        if not recipients:
            raise ValueError("no recipients: set AlertRecipients or the contract's notify list")
        try:
            resp = self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": recipients},
                Message={
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("Throttling", "ServiceUnavailable"):
                raise TransientError(str(exc)) from exc
            raise
        return resp["MessageId"]
