"""Signed opt-out links. A message to a person carries one naming their lead; nobody without the
key can make one for someone else's lead, and the link needs no sign-in, as RFC 8058 asks.

The key is the PII hash key: it cannot change without re-hashing every lead and the whole
do-not-contact list, so the links in e-mails people keep go on working."""

from __future__ import annotations

import re
import uuid

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "leadgen.opt-out"
# What ``opt_out_token`` makes: URL-safe base64 of the payload and of its signature, joined by a dot
# (a lead id is too short to be compressed, which would add a leading dot). About 80 characters.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_TOKEN_LENGTH = 200


def opt_out_token(key: str, lead_id: uuid.UUID) -> str:
    return URLSafeSerializer(key, salt=_SALT).dumps(str(lead_id))


def lead_of_opt_out_token(key: str, token: str) -> uuid.UUID | None:
    """The lead the token was made for, or None when it was not made with the key."""
    try:
        value = URLSafeSerializer(key, salt=_SALT).loads(token)
        return uuid.UUID(value)
    except (BadSignature, ValueError, TypeError):
        return None


def is_opt_out_token(token: str) -> bool:
    """Whether ``token`` has the shape of one ``opt_out_token`` makes, signature unchecked (the
    frontend has no key): such a token is a plain path segment, never ``..`` or a ``/``."""
    return len(token) <= _MAX_TOKEN_LENGTH and _TOKEN_SHAPE.fullmatch(token) is not None
