"""Who may receive the pipeline's email.

A contract's ``notify`` list is user input: without a rule, whoever can upload a contract
could make the pipeline mail any address (with the dataset's reports). Recipients are kept
only when they are one of the configured AlertRecipients or in an allowed domain (the
AllowedRecipientDomains setting; by default the AlertRecipients' own domains). The others
are dropped, named in the email to the allowed recipients, and logged. When nothing is left,
the AlertRecipients receive the email."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# One address, no display name: a local part, "@", a domain of dot-separated labels.
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}"
)


@dataclass(frozen=True)
class Dropped:
    address: str
    reason: str

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"


@dataclass(frozen=True)
class Recipients:
    to: list[str]
    dropped: list[Dropped] = field(default_factory=list)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


@dataclass(frozen=True)
class RecipientPolicy:
    defaults: tuple[str, ...] = ()  # AlertRecipients: always allowed, and the fallback
    domains: tuple[str, ...] = ()  # AllowedRecipientDomains; empty: the defaults' domains

    @classmethod
    def of(cls, defaults: Iterable[str], domains: Iterable[str] = ()) -> "RecipientPolicy":
        return cls(
            tuple(a.strip() for a in defaults if a.strip()),
            tuple(d.strip().lower().lstrip("@").lstrip("*.") for d in domains if d.strip()),
        )

    @property
    def allowed_domains(self) -> tuple[str, ...]:
        return self.domains or tuple(dict.fromkeys(_domain(a) for a in self.defaults))

    def allows(self, address: str) -> bool:
        if address.lower() in {a.lower() for a in self.defaults}:
            return True
        domain = _domain(address)
        return any(domain == d or domain.endswith("." + d) for d in self.allowed_domains)

    def resolve(self, requested: Iterable[str]) -> Recipients:
        """The addresses to send to (the allowed part of ``requested``, or the defaults when
        none is left) and the ones dropped, each with why."""
        to: list[str] = []
        dropped: list[Dropped] = []
        for raw in requested:
            address = str(raw).strip()
            shown = address if len(address) <= 80 else address[:80] + "…"
            shown = "".join(c if c.isprintable() else "?" for c in shown)
            if not _ADDRESS.fullmatch(address) or len(address) > 254:
                dropped.append(Dropped(shown, "not an email address"))
            elif not self.allows(address):
                allowed = ", ".join(self.allowed_domains) or "none configured"
                dropped.append(Dropped(shown, f"outside the allowed domains: {allowed}"))
            elif address.lower() not in {a.lower() for a in to}:
                to.append(address)
        return Recipients(to or list(self.defaults), dropped)
