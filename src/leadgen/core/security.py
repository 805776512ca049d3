"""Passwords, access tokens, API keys and the keyed hashes that stand in for PII in lookups."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "lg"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(secret: str, subject: str, claims: dict[str, Any], minutes: int) -> str:
    now = datetime.now(UTC)
    payload = {"sub": subject, "iat": now, "exp": now + timedelta(minutes=minutes), **claims}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(secret: str, token: str) -> dict[str, Any] | None:
    try:
        return jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    digest: str


def generate_api_key() -> NewApiKey:
    """A key shown once; we keep its prefix (for lookup) and a SHA-256 digest.

    The secret part has 256 bits of entropy, so a fast hash is safe here and keeps intake fast
    (a password hash would cost ~50 ms per request).
    """
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secret}"
    return NewApiKey(plaintext, prefix, api_key_digest(plaintext))


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def split_api_key(plaintext: str) -> str | None:
    """The lookup prefix of a presented key, or None when it is not shaped like one of ours."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


def digests_match(expected: str, presented_plaintext: str) -> bool:
    return hmac.compare_digest(expected, api_key_digest(presented_plaintext))


CLIENT_IP_HEADER = "x-leadgen-client-ip"
CLIENT_IP_SIGNATURE_HEADER = "x-leadgen-client-ip-signature"


def sign_client_ip(key: str, ip: str) -> str:
    """The frontend vouches for the browser's address it forwards to the api."""
    return hmac.new(key.encode(), f"client-ip:{ip}".encode(), hashlib.sha256).hexdigest()


def vouched_client_ip(key: str, ip: str | None, signature: str | None) -> str | None:
    """The forwarded address when the signature is right; None for a caller who just set the header."""
    if not ip or not signature:
        return None
    # Compared as bytes: compare_digest refuses a str with a character outside ASCII, which any
    # caller can put in the header.
    expected = sign_client_ip(key, ip).encode()
    return ip if hmac.compare_digest(expected, signature.encode()) else None


# An IPv6 subscriber gets a /64 at least (RFC 6177) and may use any address in it: counted one by
# one, each of its 2**64 addresses would have a limit of its own.
IPV6_COUNTED_PREFIX = 64


def counted_address(address: str) -> str:
    """The address a per-address limit counts the caller at: an IPv4 address as it is (also when
    written as IPv4-mapped IPv6), an IPv6 address by its /64; anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), IPV6_COUNTED_PREFIX), strict=False))
    return str(ip)


def keyed_hash(key: str, kind: str, value: str) -> str:
    """HMAC of a normalised identifier; equal inputs match, the value cannot be read back."""
    return hmac.new(key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
