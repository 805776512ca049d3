"""Signed opt-out links. A message to a person carries one naming their lead; nobody without the
key can make one for someone else's lead, and the link needs no sign-in, as RFC 8058 asks.

The key is the PII hash key: it cannot change without re-hashing every lead and the whole
do-not-contact list, so the links in e-mails people keep go on working."""

from __future__ import annotations

import uuid

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "leadgen.opt-out"


def opt_out_token(key: str, lead_id: uuid.UUID) -> str:
    return URLSafeSerializer(key, salt=_SALT).dumps(str(lead_id))


def lead_of_opt_out_token(key: str, token: str) -> uuid.UUID | None:
    """The lead the token was made for, or None when it was not made with the key."""
    try:
        value = URLSafeSerializer(key, salt=_SALT).loads(token)
        return uuid.UUID(value)
    except (BadSignature, ValueError, TypeError):
        return None
