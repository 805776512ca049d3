"""Device tokens and the per-device sign-in limit: pure rules and the in-memory limiter."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from limits.aio.storage import MemoryStorage

from leadgen.auth.devices import Device, device_of, device_token, new_device
from leadgen.auth.lockout import SignInLockout
from leadgen.core.errors import RateLimited
from leadgen.core.settings import ConfigError, Settings
from leadgen.stores.ratelimit import RateLimiter

KEY = "a-key-of-at-least-thirty-two-characters"
USER_ID = uuid.uuid4()


class TestDeviceToken:
    def test_a_token_names_the_device_it_was_issued_for(self) -> None:
        device = new_device(USER_ID, 3)
        assert device_of(KEY, device_token(KEY, device)) == device

    def test_each_sign_in_without_a_token_is_a_new_device(self) -> None:
        assert new_device(USER_ID, 0).device_id != new_device(USER_ID, 0).device_id

    def test_only_the_user_at_the_version_it_names_trusts_it_and_only_while_active(self) -> None:
        device = Device(USER_ID, 2, "phone")
        assert device.is_trusted_by(USER_ID, 2, active=True)
        assert not device.is_trusted_by(uuid.uuid4(), 2, active=True)
        assert not device.is_trusted_by(USER_ID, 3, active=True)  # signed out since
        assert not device.is_trusted_by(USER_ID, 2, active=False)

    @pytest.mark.parametrize(
        "altered",
        [
            lambda token: token[:-1] + ("0" if token[-1] != "0" else "1"),  # the hash
            lambda token: token.replace(f"{USER_ID}.2.", f"{uuid.uuid4()}.2.", 1),  # the user
            lambda token: token.replace(f"{USER_ID}.2.", f"{USER_ID}.3.", 1),  # the version
            lambda token: token.replace(".phone.", ".tablet.", 1),  # the device
            lambda token: token.rsplit(".", 1)[0],  # no hash
            lambda token: token + ".more",
            lambda token: "",
            lambda token: "not.a.device.token",
            lambda token: token[:-1] + "é",  # compare_digest refuses non-ASCII str; it must not raise
        ],
    )
    def test_an_altered_token_names_no_device(self, altered: Callable[[str], str]) -> None:
        token = device_token(KEY, Device(USER_ID, 2, "phone"))
        assert device_of(KEY, altered(token)) is None

    def test_a_token_made_with_another_key_names_no_device(self) -> None:
        token = device_token("another-key-of-at-least-thirty-two-chars", Device(USER_ID, 2, "phone"))
        assert device_of(KEY, token) is None


def settings_with_limits(account: str, device: str) -> Settings:
    return Settings(
        security={
            "sign_in_account_limits": (account,),
            "sign_in_device_limits": (device,),
            "sign_in_address_limits": ("100/minute",),
        }
    )


async def test_a_trusted_device_is_counted_per_device_not_per_account() -> None:
    limiter = RateLimiter(MemoryStorage())
    settings = settings_with_limits("1/minute", "2/minute")
    stranger = SignInLockout(limiter, settings, "pat@example.com", "198.51.100.1")
    await stranger.count_failure()
    with pytest.raises(RateLimited, match="this account"):
        await stranger.refuse_while_locked()

    phone = SignInLockout(limiter, settings, "pat@example.com", "203.0.113.1", trusted_device_id="phone")
    await phone.refuse_while_locked()  # the account's limit is reached, the phone's is not
    await phone.count_failure()
    await phone.count_failure()
    with pytest.raises(RateLimited, match="this device"):
        await phone.refuse_while_locked()
    tablet = SignInLockout(limiter, settings, "pat@example.com", "203.0.113.1", trusted_device_id="tablet")
    await tablet.refuse_while_locked()


async def test_the_address_limit_holds_for_a_trusted_device() -> None:
    limiter = RateLimiter(MemoryStorage())
    settings = Settings(security={"sign_in_address_limits": ("1/minute",)})
    await SignInLockout(limiter, settings, "someone@example.com", "198.51.100.2").count_failure()
    phone = SignInLockout(limiter, settings, "pat@example.com", "198.51.100.2", trusted_device_id="phone")
    with pytest.raises(RateLimited, match="from this address"):
        await phone.refuse_while_locked()


def test_a_device_limit_the_limiter_cannot_read_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_SECURITY_SIGN_IN_DEVICE_LIMITS", "5/minute;lots per hour")
    with pytest.raises(ConfigError, match="LEADGEN_SECURITY_SIGN_IN_DEVICE_LIMITS"):
        Settings()
