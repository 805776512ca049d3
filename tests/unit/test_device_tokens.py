"""Device tokens and the per-device sign-in limit: pure rules and the in-memory limiter."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from limits.aio.storage import MemoryStorage

from leadgen.auth.devices import Device, device_of, device_token, new_device
from leadgen.auth.lockout import SignInLockout
from leadgen.core.errors import RateLimited
from leadgen.core.security import keyed_hash
from leadgen.core.settings import ConfigError, Settings
from leadgen.stores.ratelimit import RateLimiter

KEY = "a-key-of-at-least-thirty-two-characters"
USER_ID = uuid.uuid4()
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZSBzYWx0$c29tZSBoYXNoIG9mIHRoZSBwYXNzd29yZA"


def trusted(
    token: str,
    user_id: uuid.UUID = USER_ID,
    password_hash: str = PASSWORD_HASH,
    device_version: int = 0,
    active: bool = True,
) -> Device | None:
    return device_of(
        KEY, token, user_id=user_id, password_hash=password_hash, device_version=device_version, active=active
    )


class TestDeviceToken:
    def test_a_token_names_the_device_it_was_issued_for_and_not_the_password_hash(self) -> None:
        device = new_device(USER_ID)
        token = device_token(KEY, device, PASSWORD_HASH, 0)
        assert trusted(token) == device
        assert token.split(".")[:2] == [str(USER_ID), device.device_id]
        salt_and_hash = PASSWORD_HASH.split("$")[-2:]
        assert not any(part in token for part in salt_and_hash)

    def test_each_sign_in_without_a_token_is_a_new_device(self) -> None:
        assert new_device(USER_ID).device_id != new_device(USER_ID).device_id

    def test_only_the_user_it_names_trusts_it_at_the_password_it_was_issued_at_and_while_active(self) -> None:
        token = device_token(KEY, Device(USER_ID, "phone"), PASSWORD_HASH, 0)
        assert trusted(token) == Device(USER_ID, "phone")
        assert trusted(token, user_id=uuid.uuid4()) is None
        assert trusted(token, password_hash=PASSWORD_HASH.replace("c29tZSBoYXNo", "YW5vdGhlciBo")) is None
        assert trusted(token, active=False) is None

    @pytest.mark.parametrize(
        "altered",
        [
            lambda token: token[:-1] + ("0" if token[-1] != "0" else "1"),  # the hash
            lambda token: token.replace(f"{USER_ID}.", f"{uuid.uuid4()}.", 1),  # the user
            lambda token: token.replace(".phone.", ".tablet.", 1),  # the device
            lambda token: token.rsplit(".", 1)[0],  # no hash
            lambda token: token + ".more",
            lambda token: "",
            lambda token: "not.a.token",
            lambda token: token[:-1] + "é",  # compare_digest refuses non-ASCII str; it must not raise
        ],
    )
    def test_an_altered_token_names_no_device(self, altered: Callable[[str], str]) -> None:
        token = device_token(KEY, Device(USER_ID, "phone"), PASSWORD_HASH, 0)
        assert trusted(altered(token)) is None

    def test_a_token_made_with_another_key_names_no_device(self) -> None:
        token = device_token("another-key-of-at-least-thirty-two-chars", Device(USER_ID, "phone"), PASSWORD_HASH, 0)
        assert trusted(token) is None

    def test_a_token_is_trusted_only_at_the_device_version_it_was_issued_at(self) -> None:
        """The version moves on when the user is deactivated or reactivated: trust ends for good."""
        before = device_token(KEY, Device(USER_ID, "phone"), PASSWORD_HASH, 0)
        since = device_token(KEY, Device(USER_ID, "phone"), PASSWORD_HASH, 2)
        assert trusted(before, device_version=2) is None
        assert trusted(since) is None
        assert trusted(since, device_version=1) is None
        assert trusted(since, device_version=2) == Device(USER_ID, "phone")

    def test_a_token_of_the_password_hash_alone_is_trusted_at_version_0(self) -> None:
        """As the release before made them, so that upgrading leaves every device trusted."""
        signed = f"{USER_ID}.phone.{PASSWORD_HASH}"
        token = f"{USER_ID}.phone.{keyed_hash(KEY, 'sign-in-device', signed)}"
        assert trusted(token) == Device(USER_ID, "phone")
        assert trusted(token, device_version=1) is None

    def test_a_token_of_the_release_before_names_no_device(self) -> None:
        """``<user id>.<token version>.<device id>.<hash>``, bound to the token version then."""
        signed = f"{USER_ID}.0.phone"
        assert trusted(f"{signed}.{keyed_hash(KEY, 'sign-in-device', signed)}") is None


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
