"""Which identifiers make two leads the same person, as keyed hashes (never plain PII)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from leadgen.core.security import keyed_hash
from leadgen.leads.normalize import address_key, email_key


@dataclass(frozen=True)
class IdentityKeys:
    phone: str | None
    email: str | None
    address: str | None

    def present(self) -> list[tuple[str, str]]:
        return [(kind, value) for kind, value in vars(self).items() if value is not None]


def identity_keys(
    hash_key: str, phone: str | None, email: str | None, street: str | None, zip_code: str
) -> IdentityKeys:
    address = address_key(street, zip_code)
    return IdentityKeys(
        phone=keyed_hash(hash_key, "phone", phone) if phone else None,
        email=keyed_hash(hash_key, "email", email_key(email)) if email else None,
        address=keyed_hash(hash_key, "address", address) if address else None,
    )


def window_start(received_at: datetime, window_days: int) -> datetime:
    return received_at - timedelta(days=window_days)


# A phone or e-mail match within the window, for the same line, is the same request again.
# An address alone is a household link, not a duplicate (two adults can share one address).
DUPLICATE_KINDS = ("phone", "email")
