"""The dashboard's agent page: an admin changes an agent's details and caps, deactivates and
reactivates them, through the real frontend, api and data-service (on SQLite, as the dashboard
tests run; the API tests in ``test_agent_admin.py`` cover both databases)."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leadgen.core.settings import Settings
from leadgen.frontend.client import AgentView, Peers
from tests.frontend.stack import ADMIN, MANAGER, People, Platform, add_people, csrf_token, embedded_settings, signed_in
from tests.frontend.stack import running as running_platform

INPUT = re.compile(r'<input[^>]*? name="([^"]+)"[^>]*? value="([^"]*)"')


@pytest.fixture(scope="module")
async def people_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, People]:
    folder = tmp_path_factory.mktemp("agent-page-people")
    shutil.copy(sqlite_template, folder / "leadgen.db")
    return folder / "leadgen.db", await add_people(embedded_settings(folder))


@pytest.fixture
def settings(people_template: tuple[Path, People], tmp_path: Path) -> Settings:
    folder = tmp_path / "data"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(people_template[0], folder / "leadgen.db")
    return embedded_settings(folder)


@pytest.fixture
async def platform(settings: Settings, people_template: tuple[Path, People]) -> AsyncIterator[Platform]:
    async with running_platform(settings) as (api, data, frontend):
        yield Platform(settings, api, data, frontend, people_template[1])


def form_of(page: str, action: str) -> dict[str, str]:
    """What the form posting to ``action`` sends as the page filled it in (its token included)."""
    form = page[page.index(f'action="{action}"') :]
    return {name: html.unescape(value) for name, value in INPUT.findall(form[: form.index("</form>")])}


async def data_service_patch(platform: Platform, path: str, changes: dict[str, Any]) -> None:
    """Another admin changes the agent through the API."""
    token = await platform.token(ADMIN)
    async with platform.peer(platform.data_service) as data:
        answer = await data.patch(path, json=changes, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


async def data_service_get(platform: Platform, path: str) -> Any:
    token = await platform.token(ADMIN)
    async with platform.peer(platform.data_service) as data:
        answer = await data.get(path, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestAgentPage:
    async def test_an_admin_changes_the_details_and_caps(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            assert f'href="{url}"' in (await browser.get("/agents")).text
            page = (await browser.get(url)).text
            form = form_of(page, url) | {"phone": "(512) 555-0147", "daily_cap": "7"}
            saved = await browser.post(url, data=form)
            assert (saved.status_code, saved.headers["location"]) == (303, f"{url}?notice=agent-saved")
            after = (await browser.get(saved.headers["location"])).text
        assert "Agent saved." in after and 'value="+15125550147"' in after
        agent = await data_service_get(platform, f"/api/v1/agents/{platform.people.ana_agent_id}")
        assert (agent["phone"], agent["daily_cap"], agent["open_cap"]) == ("+15125550147", 7, 50)

    async def test_a_bad_field_is_shown_beside_it_and_nothing_changes(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            form = form_of(page, url) | {"name": "Ana Renamed", "phone": "call me"}
            refused = await browser.post(url, data=form)
        assert refused.status_code == 422
        assert 'id="agent-phone-error"' in refused.text and 'value="call me"' in refused.text
        agent = await data_service_get(platform, f"/api/v1/agents/{platform.people.ana_agent_id}")
        assert (agent["name"], agent["phone"]) == ("Ana Agent", None)

    async def test_a_change_saved_meanwhile_by_another_admin_is_kept(self, platform: Platform) -> None:
        """Only the fields this admin changed are sent: another admin's change of others stays."""
        url, path = f"/agents/{platform.people.ana_agent_id}", f"/api/v1/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            await data_service_patch(platform, path, {"daily_cap": 0, "timezone": "America/Denver"})
            saved = await browser.post(url, data=form_of(page, url) | {"name": "Ana Agent-Smith"})
        assert (saved.status_code, saved.headers["location"]) == (303, f"{url}?notice=agent-saved")
        agent = await data_service_get(platform, path)
        assert (agent["name"], agent["daily_cap"], agent["timezone"]) == ("Ana Agent-Smith", 0, "America/Denver")

    async def test_a_field_another_admin_changed_meanwhile_is_not_overwritten(self, platform: Platform) -> None:
        url, path = f"/agents/{platform.people.ana_agent_id}", f"/api/v1/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            await data_service_patch(platform, path, {"daily_cap": 0})
            form = form_of(page, url) | {"name": "Ana Agent-Smith", "daily_cap": "30"}
            refused = await browser.post(url, data=form)
            assert refused.status_code == 409
            assert "changed meanwhile by someone else: reload the page" in refused.text
            assert 'value="Ana Agent-Smith"' in refused.text  # what the admin typed is still there
            reloaded = form_of((await browser.get(url)).text, url)
        assert (reloaded["daily_cap"], reloaded["original_daily_cap"]) == ("0", "0")
        agent = await data_service_get(platform, path)
        assert (agent["name"], agent["daily_cap"]) == ("Ana Agent", 0)  # nothing of the form was saved

    async def test_a_change_landing_between_the_pages_check_and_its_save_is_not_overwritten(
        self, platform: Platform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The page compares the fields with the agent as it reads it, then saves: another admin's
        change of the same field that lands in between is refused by the API (If-Match), not lost."""
        url, path = f"/agents/{platform.people.ana_agent_id}", f"/api/v1/agents/{platform.people.ana_agent_id}"
        read_agent = Peers.agent

        async def read_then_another_admin_changes(peers: Peers, token: str, agent_id: str) -> AgentView:
            agent = await read_agent(peers, token, agent_id)
            monkeypatch.setattr(Peers, "agent", read_agent)
            await data_service_patch(platform, path, {"daily_cap": 0})
            return agent

        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            monkeypatch.setattr(Peers, "agent", read_then_another_admin_changes)
            refused = await browser.post(url, data=form_of(page, url) | {"daily_cap": "30"})
        assert refused.status_code == 409
        assert "changed meanwhile by someone else: reload the page" in refused.text
        assert (await data_service_get(platform, path))["daily_cap"] == 0

    async def test_a_form_without_the_values_the_page_showed_saves_nothing(self, platform: Platform) -> None:
        """A page of the release before cannot tell what the admin changed."""
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            form = {k: v for k, v in form_of(page, url).items() if not k.startswith("original_")}
            refused = await browser.post(url, data=form | {"name": "Ana Agent-Smith"})
        assert refused.status_code == 409 and "this page is out of date: reload it" in refused.text
        agent = await data_service_get(platform, f"/api/v1/agents/{platform.people.ana_agent_id}")
        assert agent["name"] == "Ana Agent"

    async def test_a_form_changing_nothing_saves_nothing(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            answer = await browser.post(url, data=form_of(page, url))
            assert answer.headers["location"] == f"{url}?notice=agent-unchanged"
            assert "Nothing to save: no field was changed." in (await browser.get(answer.headers["location"])).text

    async def test_an_admin_deactivates_and_reactivates_an_agent(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        path = f"/api/v1/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            off = await browser.post(f"{url}/active", data={"csrf_token": csrf_token(page, url), "active": "false"})
            assert off.headers["location"] == f"{url}?notice=agent-deactivated"
            assert (await data_service_get(platform, path))["active"] is False
            page = (await browser.get(off.headers["location"])).text
            assert "Agent deactivated." in page and ">Reactivate</button>" in page
            on = await browser.post(f"{url}/active", data={"csrf_token": csrf_token(page, url), "active": "true"})
            assert on.headers["location"] == f"{url}?notice=agent-reactivated"
        assert (await data_service_get(platform, path))["active"] is True

    async def test_an_active_value_other_than_true_or_false_changes_nothing(self, platform: Platform) -> None:
        """Only what the buttons send: a missing or mistyped value used to deactivate the agent."""
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, ADMIN) as browser:
            page = (await browser.get(url)).text
            for sent in ({}, {"active": ""}, {"active": "no"}, {"active": "False"}):
                refused = await browser.post(f"{url}/active", data={"csrf_token": csrf_token(page, url), **sent})
                assert refused.status_code == 422, sent
                assert "Nothing changed: the form must say" in refused.text and ">Deactivate</button>" in refused.text
        assert (await data_service_get(platform, f"/api/v1/agents/{platform.people.ana_agent_id}"))["active"] is True

    async def test_a_manager_sees_the_agent_but_cannot_change_them(self, platform: Platform) -> None:
        url = f"/agents/{platform.people.ana_agent_id}"
        async with signed_in(platform, MANAGER) as browser:
            page = (await browser.get(url)).text
            assert "Ana Agent" in page and "Only admins change agents." in page and "Deactivate" not in page
            tried = await browser.post(f"{url}/active", data={"csrf_token": csrf_token(page), "active": "false"})
        assert tried.status_code == 403
        assert (await data_service_get(platform, f"/api/v1/agents/{platform.people.ana_agent_id}"))["active"]
