"""Device tokens (OWASP's "device cookies"): what a client that signed in to an account before
shows, so that strangers' failed sign-ins, which lock the account, do not lock it out too.

A token names a user, the user's token version when it was issued, and a random device id, with a
keyed hash of the three (keyed by ``security.jwt_secret``, as access tokens are). A user's token
version moves on when they sign out, are deactivated or given another role, and with it every
device token of theirs stops counting. The device id is what the per-device sign-in limit counts,
so that a stolen token buys the thief no more guesses than the account lockout would.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass

from leadgen.core.security import keyed_hash

# The API's clients send the token of an earlier sign-in back in this header; the dashboard keeps it
# in a cookie of its own (``frontend.session.DEVICE_COOKIE``).
DEVICE_TOKEN_HEADER = "X-Device-Token"  # noqa: S105 (a header name, not a secret)
_HASH_KIND = "sign-in-device"


@dataclass(frozen=True)
class Device:
    """A client that signed in to the user's account at the user's token version."""

    user_id: uuid.UUID
    token_version: int
    device_id: str

    def is_trusted_by(self, user_id: uuid.UUID, token_version: int, active: bool) -> bool:
        """Whether signing in to this user from this device may skip the account lockout."""
        return active and self.user_id == user_id and self.token_version == token_version


def new_device(user_id: uuid.UUID, token_version: int) -> Device:
    return Device(user_id, token_version, secrets.token_urlsafe(16))


def _signed_part(user_id: uuid.UUID, token_version: int, device_id: str) -> str:
    return f"{user_id}.{token_version}.{device_id}"


def device_token(key: str, device: Device) -> str:
    """The token the client keeps: ``<user id>.<token version>.<device id>.<keyed hash>``."""
    signed = _signed_part(device.user_id, device.token_version, device.device_id)
    return f"{signed}.{keyed_hash(key, _HASH_KIND, signed)}"


def device_of(key: str, token: str) -> Device | None:
    """The device a token names when it is one of ours, unaltered; None otherwise."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    user, version, device_id, presented_hash = parts
    try:
        user_id, token_version = uuid.UUID(user), int(version)
    except ValueError:
        return None
    expected_hash = keyed_hash(key, _HASH_KIND, _signed_part(user_id, token_version, device_id))
    # As bytes: compare_digest refuses str with other than ASCII in it, which a header may hold.
    if not hmac.compare_digest(expected_hash.encode(), presented_hash.encode()):
        return None
    return Device(user_id, token_version, device_id)
