"""Limits on failed sign-ins, per account (its e-mail address) and per client address (an IPv6
address by its /64: ``core.security.counted_address``).

Only failures are counted, so people who sign in often are never held up. While a limit is
reached every sign-in it covers is refused, the right password too: were a right guess let
through, its answer would tell the guesser it was right, and the limit would limit nothing.

A sign-in from a device the account trusts (``auth.devices``) is counted per device instead of
per account: anyone who knows a user's e-mail address can lock the account, but not the user's
own devices out of it. The limit per client address holds for every sign-in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from leadgen.core.errors import RateLimited
from leadgen.core.security import counted_address, keyed_hash
from leadgen.core.settings import Settings
from leadgen.stores.ratelimit import RateLimiter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Counter:
    """The failures of one account or one address, and the limits on them."""

    scope: str
    identifier: str
    rules: tuple[str, ...]
    refusal: str


class SignInLockout:
    """The limits one sign-in attempt (an e-mail address, from a client address, and from a device
    the account trusts when ``trusted_device_id`` names it) is subject to."""

    def __init__(
        self,
        limiter: RateLimiter,
        settings: Settings,
        email: str,
        client_address: str,
        trusted_device_id: str | None = None,
    ) -> None:
        self._limiter = limiter
        self._counters = (
            _device_or_account_counter(settings, email, trusted_device_id),
            _Counter(
                "sign-in-address",
                counted_address(client_address),
                settings.security.sign_in_address_limits,
                "too many failed sign-ins from this address",
            ),
        )

    async def refuse_while_locked(self) -> None:
        """Raise ``RateLimited`` while a limit on the account or the address is reached."""
        for counter in self._counters:
            waits = [
                await self._limiter.seconds_until_allowed(rule, counter.scope, counter.identifier)
                for rule in counter.rules
            ]
            wait = max(waits, default=0.0)
            if wait > 0:
                log.info("sign-in refused: %s", counter.refusal)
                raise RateLimited(f"{counter.refusal}; try again in {_duration(wait)}", math.ceil(wait))

    async def count_failure(self) -> None:
        """Count a failed sign-in against every limit of the account and of the address; then
        ``RateLimited`` when one of them was reached meanwhile (by failures sent at the same time).

        A limit whose window is already full does not count the failure, but every other limit
        does: a guesser whose failures race past one limit is still counted by the others."""
        counted = [
            await self._limiter.hit(rule, counter.scope, counter.identifier)
            for counter in self._counters
            for rule in counter.rules
        ]
        if not all(counted):
            await self.refuse_while_locked()


def _device_or_account_counter(settings: Settings, email: str, trusted_device_id: str | None) -> _Counter:
    if trusted_device_id is not None:
        # The id comes from a token whose keyed hash was checked, so it is ours, not typed.
        return _Counter(
            "sign-in-device",
            trusted_device_id,
            settings.security.sign_in_device_limits,
            "too many failed sign-ins from this device",
        )
    # A keyed hash, not the address typed: whatever is typed as a user name becomes a key in Redis.
    account = keyed_hash(settings.security.pii_hash_key.get_secret_value(), "sign-in", email.strip().lower())
    return _Counter(
        "sign-in-account",
        account,
        settings.security.sign_in_account_limits,
        "too many failed sign-ins to this account",
    )


def _duration(seconds: float) -> str:
    """A wait rounded up, as people say it: '1 second', '40 seconds', '12 minutes'."""
    if seconds > 90:
        return f"{math.ceil(seconds / 60)} minutes"
    whole = max(math.ceil(seconds), 1)
    return "1 second" if whole == 1 else f"{whole} seconds"
