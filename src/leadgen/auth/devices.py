"""Device tokens (OWASP's "device cookies"): what a client that signed in to an account before
shows, so that strangers' failed sign-ins, which lock the account, do not lock it out too.

A token names a user and a random device id, with a keyed hash (keyed by ``security.jwt_secret``,
as access tokens are) of the two and of the user's stored password hash and device version
(``User.device_version``), which the token does not carry. It is bound to the user's credential,
not to their sessions: it keeps counting when the user signs out or is given another role, so that
a user who signs out as they should is not left to the account lockout at their next sign-in. It
stops counting when the password changes (a stolen token goes with the old password), when the
user is deactivated (for good: the device version moves on, so a reactivated user trusts no device
of before), and when the key is rotated. The device id is what the per-device sign-in limit
counts, so that a stolen token buys the thief no more guesses than the account lockout would.
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
    """A client that signed in to the user's account."""

    user_id: uuid.UUID
    device_id: str


def new_device(user_id: uuid.UUID) -> Device:
    return Device(user_id, secrets.token_urlsafe(16))


def _credential_hash(key: str, device: Device, password_hash: str, device_version: int) -> str:
    # Neither the user id, a device id of ours nor an argon2 password hash holds a ".", so the
    # parts cannot run together. At version 0, where every user starts, the hash is the release
    # before's: upgrading left every device trusted.
    signed = f"{device.user_id}.{device.device_id}.{password_hash}"
    return keyed_hash(key, _HASH_KIND, f"{signed}.{device_version}" if device_version else signed)


def device_token(key: str, device: Device, password_hash: str, device_version: int) -> str:
    """The token the client keeps: ``<user id>.<device id>.<keyed hash>``, the hash of both and of
    the user's stored ``password_hash`` and ``device_version``."""
    return f"{device.user_id}.{device.device_id}.{_credential_hash(key, device, password_hash, device_version)}"


def device_of(
    key: str, token: str, *, user_id: uuid.UUID, password_hash: str, device_version: int, active: bool
) -> Device | None:
    """The device a token names when the user trusts it: the token is ours, unaltered, names this
    user and was issued at their present ``password_hash`` and ``device_version``, and the user is
    ``active``; else None."""
    parts = token.split(".")
    # Tokens of an older release (``<user id>.<token version>.<device id>.<hash>``) have four
    # parts and are no longer trusted: such a sign-in is counted per account, and a successful one
    # gives the client a token of this form.
    if not active or len(parts) != 3:
        return None
    user, device_id, presented_hash = parts
    if user != str(user_id):
        return None
    device = Device(user_id, device_id)
    expected_hash = _credential_hash(key, device, password_hash, device_version)
    # As bytes: compare_digest refuses str with other than ASCII in it, which a header may hold.
    if not hmac.compare_digest(expected_hash.encode(), presented_hash.encode()):
        return None
    return device
