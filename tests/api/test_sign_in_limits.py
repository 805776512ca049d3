"""Failed sign-ins are limited per account and per client address, in Redis, at the defaults."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.devices import Device, device_token
from leadgen.auth.roles import Role
from leadgen.core.security import keyed_hash
from leadgen.core.settings import ConfigError, Settings
from leadgen.models import User
from leadgen.targets import api
from tests import helpers

Caller = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]
NEW_PASSWORD = "a-new-long-test-password"


def new_address() -> str:
    """An address of its own per call (TEST-NET-2), so that no test shares counters with another,
    nor with an earlier run whose counters are still in Redis."""
    number = uuid.uuid4().int
    return f"198.51.{number % 256}.{(number >> 8) % 254 + 1}"


@pytest.fixture
async def caller(
    settings_env: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Caller]:
    """Clients of one api app on Redis, each connecting from the address it is given."""
    monkeypatch.setenv("LEADGEN_REDIS_URL", redis_url)
    app = api.create_app(Settings())

    @asynccontextmanager
    async def connect_from(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    async with app.router.lifespan_context(app):
        yield connect_from


@pytest.fixture
async def email(session: AsyncSession) -> str:
    address = await helpers.user(session, Role.MANAGER)
    await session.commit()
    return address


async def attempt(client: httpx.AsyncClient, email: str, password: str = helpers.PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


class TestPerAccount:
    async def test_forty_wrong_passwords_get_429_after_the_fifth(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as client:
            answers = [await attempt(client, email, "not-the-password") for _ in range(40)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 35
        refusal = answers[-1].json()
        assert refusal["title"] == "Too Many Requests"
        assert refusal["detail"].startswith("too many failed sign-ins to this account; try again in ")
        assert 0 < int(answers[-1].headers["Retry-After"]) <= 15 * 60

    async def test_the_right_password_is_refused_while_locked(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as client:
            for _ in range(5):
                await attempt(client, email, "not-the-password")
            answer = await attempt(client, email)
        assert answer.status_code == 429
        assert "access_token" not in answer.json()

    async def test_successes_are_not_counted(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as client:
            assert [(await attempt(client, email)).status_code for _ in range(8)] == [200] * 8
            assert [(await attempt(client, email, "wrong-one")).status_code for _ in range(4)] == [401] * 4
            assert (await attempt(client, email)).status_code == 200

    async def test_the_account_is_locked_from_every_address_and_however_it_is_spelled(
        self, caller: Caller, email: str
    ) -> None:
        async with caller(new_address()) as client:
            for spelling in (email, email.upper(), f"  {email} ", email.title(), email):
                assert (await attempt(client, spelling, "not-the-password")).status_code == 401
        async with caller(new_address()) as elsewhere:
            answer = await attempt(elsewhere, email)
        assert answer.status_code == 429
        assert "this account" in answer.json()["detail"]

    async def test_an_unknown_address_is_limited_like_a_known_one(self, caller: Caller) -> None:
        nobody = f"{uuid.uuid4().hex[:10]}@nobody.example.com"
        async with caller(new_address()) as client:
            codes = [(await attempt(client, nobody)).status_code for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2

    async def test_sign_in_works_again_once_the_failures_leave_the_window(
        self, settings_env: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch, email: str
    ) -> None:
        monkeypatch.setenv("LEADGEN_REDIS_URL", redis_url)
        monkeypatch.setenv("LEADGEN_SECURITY_SIGN_IN_ACCOUNT_LIMITS", "2/second")
        app = api.create_app(Settings())
        transport = httpx.ASGITransport(app=app, client=(new_address(), 50000))
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert [(await attempt(c, email, "wrong")).status_code for _ in range(2)] == [401, 401]
            locked = await attempt(c, email)
            assert locked.status_code == 429
            assert locked.json()["detail"].endswith("try again in 1 second")
            await asyncio.sleep(1.1)
            assert (await attempt(c, email)).status_code == 200


class TestPerAddress:
    async def test_failures_across_accounts_from_one_address_are_limited(self, caller: Caller, email: str) -> None:
        guesser = new_address()
        async with caller(guesser) as client:
            strangers = [f"{uuid.uuid4().hex[:10]}@nobody.example.com" for _ in range(21)]
            codes = [(await attempt(client, stranger)).status_code for stranger in strangers]
            assert codes == [401] * 20 + [429]
            refused = await attempt(client, email)
            assert refused.status_code == 429
            assert "from this address" in refused.json()["detail"]
        async with caller(new_address()) as someone_else:
            assert (await attempt(someone_else, email)).status_code == 200

    async def test_the_addresses_of_one_ipv6_64_are_counted_as_one(self, caller: Caller, email: str) -> None:
        """Anyone given a /64 may use any of its 2**64 addresses: a new one per guess gains nothing."""
        network, subnet = divmod(uuid.uuid4().int % 2**32, 2**16)  # of its own, as new_address()
        subscriber = f"2001:db8:{network:x}:{subnet:x}"
        neighbour = f"2001:db8:{network:x}:{(subnet + 1) % 2**16:x}"
        codes = []
        for guess in range(21):
            async with caller(f"{subscriber}::{guess + 1:x}") as client:
                codes.append((await attempt(client, f"{uuid.uuid4().hex[:10]}@nobody.example.com")).status_code)
        assert codes == [401] * 20 + [429]
        async with caller(f"{subscriber}:ffff:ffff:ffff:ffff") as same_64:
            assert (await attempt(same_64, email)).status_code == 429
        async with caller(f"{neighbour}::1") as next_64:
            assert (await attempt(next_64, email)).status_code == 200

    async def test_only_the_frontend_can_name_another_address(self, caller: Caller) -> None:
        """A caller who writes the frontend's header without its signature is counted at its own address."""
        async with caller(new_address()) as client:
            codes = [
                (
                    await client.post(
                        "/api/v1/auth/token",
                        data={"username": f"{uuid.uuid4().hex[:10]}@nobody.example.com", "password": "x"},
                        headers={"x-leadgen-client-ip": new_address()},
                    )
                ).status_code
                for _ in range(21)
            ]
        assert codes == [401] * 20 + [429]


async def attempt_from_device(
    client: httpx.AsyncClient, email: str, device_token: str, password: str = helpers.PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token",
        data={"username": email, "password": password},
        headers={"X-Device-Token": device_token},
    )


async def device_token_of(client: httpx.AsyncClient, email: str) -> str:
    """The device token a successful sign-in gives the client."""
    answer = await attempt(client, email)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["device_token"]
    return token


async def change_password(client: httpx.AsyncClient, email: str, password: str) -> None:
    """Give the user a new password as they would: signed in, with their current one."""
    headers = await helpers.bearer(client, email)
    body = {"current_password": helpers.PASSWORD, "new_password": password}
    answer = await client.post("/api/v1/auth/me/password", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def user_id(session: AsyncSession, email: str) -> uuid.UUID:
    found = await session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


async def lock_out(caller: Caller, email: str) -> None:
    """A stranger locks the account with wrong passwords, from an address of their own."""
    async with caller(new_address()) as stranger:
        assert [(await attempt(stranger, email, "not-the-password")).status_code for _ in range(5)] == [401] * 5
        assert (await attempt(stranger, email)).status_code == 429


class TestTrustedDevice:
    async def test_the_users_device_signs_in_while_a_stranger_has_the_account_locked(
        self, caller: Caller, email: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        async with caller(new_address()) as device:
            token = await device_token_of(device, email)
            await lock_out(caller, email)
            without_token = await attempt(device, email)
            assert without_token.status_code == 429
            answer = await attempt_from_device(device, email, token)
            assert answer.status_code == 200, answer.text
            assert answer.json()["device_token"] == token  # the same device, counted as before
            me = await device.get(
                "/api/v1/auth/me", headers={"authorization": f"Bearer {answer.json()['access_token']}"}
            )
            assert me.status_code == 200
        assert "sign-in refused" in caplog.text  # what is logged is captured
        assert token not in caplog.text

    async def test_wrong_passwords_from_the_device_are_limited_per_device(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as device:
            token = await device_token_of(device, email)
            codes = [
                (await attempt_from_device(device, email, token, "not-the-password")).status_code for _ in range(7)
            ]
            assert codes == [401] * 5 + [429] * 2
            refused = await attempt_from_device(device, email, token)
            assert refused.status_code == 429
            assert refused.json()["detail"].startswith("too many failed sign-ins from this device; try again in ")
            assert "access_token" not in refused.json()
        async with caller(new_address()) as another_device:
            # The device's failures were not the account's.
            assert (await attempt(another_device, email)).status_code == 200

    async def test_a_token_gives_no_way_past_the_lockout_unless_it_is_ours_for_this_account(
        self, caller: Caller, session: AsyncSession, settings: Settings, email: str
    ) -> None:
        colleague = await helpers.user(session, Role.MANAGER)
        await session.commit()
        async with caller(new_address()) as device:
            current = await device_token_of(device, email)
            colleagues = await device_token_of(device, colleague)
            user, device_id, keyed = current.split(".")
            colleague_id = colleagues.split(".")[0]
            # As the release before made them: bound to the token version, not to the password.
            of_the_release_before = f"{user}.0.{device_id}"
            jwt_secret = settings.security.jwt_secret.get_secret_value()
            refused_tokens = {
                "another account's": colleagues,
                "an altered hash": f"{user}.{device_id}.{keyed[::-1]}",
                "another device's id": f"{user}.{device_id[::-1]}.{keyed}",
                "naming another user": f"{colleague_id}.{device_id}.{keyed}",
                "made with another key": device_token(
                    "another-key-of-at-least-thirty-two-chars", Device(uuid.UUID(user), device_id), "any hash", 0
                ),
                "of the release before": (
                    f"{of_the_release_before}.{keyed_hash(jwt_secret, 'sign-in-device', of_the_release_before)}"
                ),
                "not one at all": "let-me-in",
            }
            await lock_out(caller, email)
            for case, refused_token in refused_tokens.items():
                answer = await attempt_from_device(device, email, refused_token)
                assert answer.status_code == 429, case
                assert "this account" in answer.json()["detail"], case
            assert (await attempt_from_device(device, email, current)).status_code == 200

    async def test_the_token_still_counts_after_the_user_signs_out(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as device:
            signed_in = await attempt(device, email)
            token = signed_in.json()["device_token"]
            bearer = {"authorization": f"Bearer {signed_in.json()['access_token']}"}
            assert (await device.post("/api/v1/auth/logout", headers=bearer)).status_code == 204
            await lock_out(caller, email)
            answer = await attempt_from_device(device, email, token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["device_token"] == token

    async def test_a_password_change_ends_the_trust_of_every_device_of_the_user(
        self, caller: Caller, email: str
    ) -> None:
        async with caller(new_address()) as phone, caller(new_address()) as laptop:
            tokens = [await device_token_of(phone, email), await device_token_of(laptop, email)]
            async with caller(new_address()) as browser:
                await change_password(browser, email, NEW_PASSWORD)
            await lock_out(caller, email)
            for client, token in zip((phone, laptop), tokens, strict=True):
                answer = await attempt_from_device(client, email, token, NEW_PASSWORD)
                assert answer.status_code == 429
                assert "this account" in answer.json()["detail"]

    async def test_a_role_change_keeps_the_trust_and_deactivation_ends_it(
        self, caller: Caller, session: AsyncSession, email: str
    ) -> None:
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        async with caller(new_address()) as device, caller(new_address()) as admin:
            token = await device_token_of(device, email)
            admin_bearer = await helpers.bearer(admin, admin_email)
            path = f"/api/v1/auth/users/{await user_id(session, email)}"
            assert (await admin.patch(path, json={"role": "admin"}, headers=admin_bearer)).status_code == 200
            await lock_out(caller, email)
            assert (await attempt_from_device(device, email, token)).status_code == 200
            assert (await admin.patch(path, json={"active": False}, headers=admin_bearer)).status_code == 200
            answer = await attempt_from_device(device, email, token)
        assert answer.status_code == 429
        assert "this account" in answer.json()["detail"]

    @pytest.mark.parametrize("deactivated_by", ["an admin", "sql"])
    async def test_a_deactivation_ends_the_trust_for_good_reactivated_too(
        self, caller: Caller, session: AsyncSession, email: str, deactivated_by: str
    ) -> None:
        """Also when the user was deactivated by other means than the api: the reactivation ends it."""
        admin_email = await helpers.user(session, Role.ADMIN)
        await session.commit()
        path = f"/api/v1/auth/users/{await user_id(session, email)}"
        async with caller(new_address()) as device, caller(new_address()) as admin:
            token = await device_token_of(device, email)
            admin_bearer = await helpers.bearer(admin, admin_email)
            if deactivated_by == "sql":
                await session.execute(update(User).where(User.email == email).values(active=False))
                await session.commit()
            else:
                assert (await admin.patch(path, json={"active": False}, headers=admin_bearer)).status_code == 200
            assert (await admin.patch(path, json={"active": True}, headers=admin_bearer)).status_code == 200
            after_reactivation = await device_token_of(device, email)
            await lock_out(caller, email)
            answer = await attempt_from_device(device, email, token)
            assert answer.status_code == 429
            assert "this account" in answer.json()["detail"]
            # A device that signed in since the reactivation is trusted.
            assert (await attempt_from_device(device, email, after_reactivation)).status_code == 200

    async def test_the_address_limit_holds_for_a_trusted_device(self, caller: Caller, email: str) -> None:
        async with caller(new_address()) as client:
            token = await device_token_of(client, email)
            for _ in range(20):
                assert (await attempt(client, f"{uuid.uuid4().hex[:10]}@nobody.example.com")).status_code == 401
            refused = await attempt_from_device(client, email, token)
        assert refused.status_code == 429
        assert "from this address" in refused.json()["detail"]


def test_a_limit_the_limiter_cannot_read_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_SECURITY_SIGN_IN_ADDRESS_LIMITS", "20/minute;lots per hour")
    with pytest.raises(ConfigError, match="LEADGEN_SECURITY_SIGN_IN_ADDRESS_LIMITS"):
        Settings()
