"""Every email sent through the offline SES is also written to .local/outbox/ as .eml and
.html, and named on the console."""

import email
import re
import sys
import threading
from datetime import UTC, datetime
from email import policy
from pathlib import Path

_lock = threading.Lock()
_outbox: Path | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60].lower()


def write(raw: str | bytes) -> Path | None:
    if _outbox is None:
        return None
    raw_bytes = raw.encode() if isinstance(raw, str) else raw
    msg = email.message_from_bytes(raw_bytes, policy=policy.default)
    subject = str(msg.get("Subject", "no subject"))
    with _lock:
        _outbox.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{_slug(subject)}"
        eml = _outbox / f"{stem}.eml"
        eml.write_bytes(raw_bytes)
        html = msg.get_body(preferencelist=("html",))
        if html is not None:
            (_outbox / f"{stem}.html").write_text(html.get_content())
    sys.stderr.write(f"\n>> email sent: {subject}\n   {eml}\n")
    return eml


def install(outbox: Path) -> None:
    """Send this process's offline SES mail (moto_patches' ses-outbox) to ``outbox``."""
    global _outbox
    _outbox = outbox
