"""The agent page's sign-in, for admins: deactivating an agent stops their new leads but leaves their
sign-in on, and with it the leads they accepted, phone numbers included; the page says so, and turns
the sign-in off (or on again) through the api."""

from __future__ import annotations

import httpx

from tests.frontend.stack import (
    ADMIN,
    ANA,
    BEN,
    MANAGER,
    AnsweringOn,
    Platform,
    add_agent,
    another_frontend,
    csrf_token,
    sign_in,
    signed_in,
)

STILL_SIGNS_IN = f"{ANA} can still sign in: deactivating the agent stopped their new leads, not their access."
TURN_OFF = ">Turn off sign-in</button>"
TURN_ON = ">Turn on sign-in</button>"
PHONE = 'href="tel:+12145550134"'


async def user_of(platform: Platform, email: str) -> dict[str, object]:
    """The user as the api lists them to an admin."""
    [user] = await platform.api_get(ADMIN, f"/api/v1/auth/users?email={email}")
    assert isinstance(user, dict)
    return user


async def accept_a_lead(platform: Platform, browser: httpx.AsyncClient) -> None:
    """A lead routed to Ana and accepted in her browser: her inbox shows the person's phone number."""
    await platform.routed_lead("214-555-0134")
    page = (await browser.get("/inbox")).text
    marker = 'action="/inbox/'
    start = page.index(marker) + len(marker)
    accept = f"/inbox/{page[start : page.index('/', start)]}/accept"
    answer = await browser.post(accept, data={"csrf_token": csrf_token(page, accept)})
    assert answer.status_code == 303, answer.text


def sign_in_form(page: str, url: str, user_id: object, active: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(page, f"{url}/sign-in"), "user_id": str(user_id), "active": active}


class TestAgentSignIn:
    async def test_an_admin_deactivating_an_agent_is_told_they_still_sign_in_and_turns_it_off(
        self, platform: Platform
    ) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        ana_user = await user_of(platform, ANA)
        async with signed_in(platform, ANA) as ana, signed_in(platform, ADMIN) as admin:
            await accept_a_lead(platform, ana)
            page = (await admin.get(url)).text
            assert "so does their sign-in: to\n    end their access, turn it off below too." in page
            form = {"csrf_token": csrf_token(page, f"{url}/active"), "active": "false"}
            assert (await admin.post(f"{url}/active", data=form)).status_code == 303
            page = (await admin.get(url)).text
            assert STILL_SIGNS_IN in page and "phone numbers included" in page and TURN_OFF in page
            # What the page warns of: the agent, deactivated, still reads the lead's phone number.
            assert PHONE in (await ana.get("/inbox")).text

            off = await admin.post(f"{url}/sign-in", data=sign_in_form(page, url, ana_user["id"], "false"))
            assert (off.status_code, off.headers["location"]) == (303, f"{url}?notice=sign-in-off")
            page = (await admin.get(off.headers["location"])).text
            assert "Sign-in turned off." in page and STILL_SIGNS_IN not in page and TURN_ON in page

            ended = await ana.get("/inbox")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/login?notice=expired")
        async with platform.browser() as again:
            assert (await sign_in(again, ANA)).status_code != 303
        assert (await user_of(platform, ANA))["active"] is False

    async def test_an_admin_turns_the_sign_in_on_again(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        ana_user = await user_of(platform, ANA)
        async with signed_in(platform, ADMIN) as admin:
            page = (await admin.get(url)).text
            await admin.post(f"{url}/sign-in", data=sign_in_form(page, url, ana_user["id"], "false"))
            page = (await admin.get(url)).text
            on = await admin.post(f"{url}/sign-in", data=sign_in_form(page, url, ana_user["id"], "true"))
            assert (on.status_code, on.headers["location"]) == (303, f"{url}?notice=sign-in-on")
            assert TURN_OFF in (await admin.get(url)).text
        async with signed_in(platform, ANA) as ana:
            assert (await ana.get("/inbox")).status_code == 200

    async def test_a_form_naming_another_user_or_no_change_changes_nobody(self, platform: Platform) -> None:
        """Only a sign-in of the page's agent, and only what the buttons send."""
        url = f"/agents/{platform.people.ana_agent_id}"
        ana_user, ben_user = await user_of(platform, ANA), await user_of(platform, BEN)
        async with signed_in(platform, ADMIN) as admin:
            page = (await admin.get(url)).text
            for user_id, active in ((ben_user["id"], "false"), ("", "false"), (ana_user["id"], "no")):
                refused = await admin.post(f"{url}/sign-in", data=sign_in_form(page, url, user_id, active))
                assert refused.status_code == 422, (user_id, active)
                assert "Nothing changed: the form must name a sign-in of this agent" in refused.text
                assert TURN_OFF in refused.text
        assert (await user_of(platform, ANA))["active"] is True
        assert (await user_of(platform, BEN))["active"] is True

    async def test_a_form_without_the_sessions_csrf_token_is_refused(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        ana_user = await user_of(platform, ANA)
        async with signed_in(platform, ADMIN) as admin:
            refused = await admin.post(f"{url}/sign-in", data={"user_id": str(ana_user["id"]), "active": "false"})
        assert refused.status_code == 403
        assert (await user_of(platform, ANA))["active"] is True

    async def test_a_manager_sees_no_sign_in_and_cannot_turn_it_off(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        ana_user = await user_of(platform, ANA)
        async with signed_in(platform, MANAGER) as manager:
            page = (await manager.get(url)).text
            assert "Ana Agent" in page and "Sign-in" not in page and ANA not in page
            form = {"csrf_token": csrf_token(page), "user_id": str(ana_user["id"]), "active": "false"}
            tried = await manager.post(f"{url}/sign-in", data=form)
        assert tried.status_code == 403
        assert (await user_of(platform, ANA))["active"] is True

    async def test_an_agent_nobody_signs_in_as_says_so(self, platform: Platform) -> None:
        agent_id = await add_agent(platform, await platform.token(ADMIN), "Cam Agent", "TX")
        async with signed_in(platform, ADMIN) as admin:
            page = (await admin.get(f"/agents/{agent_id}")).text
        assert "Nobody signs in to the dashboard as this agent" in page and TURN_OFF not in page

    async def test_the_page_still_shows_with_an_api_that_lists_no_users(self, platform: Platform) -> None:
        """An api of the release before, mid-rollout, has no user listing: the page leaves the sign-in out."""
        older_api = AnsweringOn("/api/v1/auth/users", 404, httpx.ASGITransport(app=platform.api))
        async with (
            another_frontend(platform, api=older_api) as frontend,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=frontend), base_url="http://t") as admin,
        ):
            assert (await sign_in(admin, ADMIN)).status_code == 303
            page = await admin.get(f"/agents/{platform.people.ana_agent_id}")
        assert page.status_code == 200 and "Ana Agent" in page.text and "<h2>Sign-in</h2>" not in page.text
