"""What intake refuses because no real lead carries it: a consent certificate not in its vendor's
documented form, a phone number of a service rather than a person, names and text with control or
bidirectional-override characters, a name with no letter, a date of birth or a health cover start
out of range, and JSON the parser gives up on. Each is a 422 on its field and stores nothing; what a
person asks of us (an opt-out, an export of their data) is still taken for any number."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.auth.roles import Role
from leadgen.auth.service import create_api_key
from leadgen.core.errors import Conflict
from leadgen.core.security import generate_api_key
from leadgen.models import ApiKey, ConsentRecord, Lead, Source
from leadgen.sources.rules import SourceKind
from tests import helpers
from tests.api.test_intake import nothing_stored
from tests.api.test_quote_requests import QUOTES, quote_request_payload
from tests.conftest import lead_payload

LEADS = "/api/v1/leads"
CERTIFICATE = "https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c"
LEADID = "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF"


def today() -> date:
    return datetime.now(UTC).date()


async def refused_on(client: AsyncClient, key: str, payload: dict[str, Any]) -> list[dict[str, str]]:
    response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
    assert response.status_code == 422, response.text
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


class TestConsentCertificates:
    @pytest.mark.parametrize(
        "url",
        [
            CERTIFICATE,
            # Mobile certificates: 40 or 80 letters, digits, dashes and underscores (ActiveProspect's own check).
            "https://cert.trustedform.com/" + "aB3_-" * 8,
            "https://cert.trustedform.com/" + "aB3_-" * 16,
        ],
    )
    async def test_a_certificate_in_the_documented_form_is_kept(
        self, client: AsyncClient, key: str, session: AsyncSession, url: str
    ) -> None:
        payload = lead_payload()
        payload["consent"].update(trustedform_cert_url=url, jornaya_leadid=LEADID.lower())
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
        record = await session.scalar(select(ConsentRecord))
        assert record is not None and (record.trustedform_cert_url, record.jornaya_leadid) == (url, LEADID.lower())

    @pytest.mark.parametrize(
        "url",
        [
            "http://example.com/not-a-certificate",
            "https://example.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c",
            "https://cert.trustedform.com.example.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c",
            "http://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c",
            "https://cert.trustedform.com/2b3c4d5e6f",
            CERTIFICATE + "/",
            CERTIFICATE + "?shared_token=x",
        ],
        ids=["another host", "another host, a token's path", "a lookalike host", "http", "short token",
             "trailing slash", "query"],
    )  # fmt: skip
    async def test_any_other_url_is_refused_naming_the_form(
        self, client: AsyncClient, key: str, session: AsyncSession, url: str
    ) -> None:
        payload = lead_payload()
        payload["consent"]["trustedform_cert_url"] = url
        [error] = await refused_on(client, key, payload)
        assert error["field"] == "consent.trustedform_cert_url"
        assert "https://cert.trustedform.com/" in error["reason"], error
        assert await nothing_stored(session)

    @pytest.mark.parametrize(
        "leadid",
        ["x", "A1B2C3D4E5F64711" + "8899AABBCCDDEEFF", "{" + LEADID + "}", LEADID[:-1] + "G", LEADID + "0"],
        ids=["one letter", "no dashes", "braces", "not hex", "too long"],
    )
    async def test_a_leadid_not_in_jornayas_form_is_refused(
        self, client: AsyncClient, key: str, session: AsyncSession, leadid: str
    ) -> None:
        payload = lead_payload()
        payload["consent"]["jornaya_leadid"] = leadid
        [error] = await refused_on(client, key, payload)
        assert error["field"] == "consent.jornaya_leadid"
        assert "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" in error["reason"], error
        assert await nothing_stored(session)


class TestPhoneTypes:
    @pytest.mark.parametrize(
        ("phone", "kind"),
        [
            ("+1 900 225 5288", "premium-rate"),
            ("(900) 555-1234", "premium-rate"),
            ("800-225-5288", "toll-free"),
            ("844-555-1234 ext. 12", "toll-free"),
            ("500-225-5288", "personal"),
        ],
    )
    async def test_a_number_of_a_service_is_refused_from_a_vendor_and_the_quote_form(
        self, client: AsyncClient, key: str, session: AsyncSession, phone: str, kind: str
    ) -> None:
        vendor = lead_payload()
        vendor["contact"]["phone"] = phone
        [error] = await refused_on(client, key, vendor)
        assert error["field"] == "contact.phone" and kind in error["reason"], error
        assert "fixed-line or mobile" in error["reason"]
        quote = quote_request_payload()
        quote["contact"]["phone"] = phone
        response = await client.post(QUOTES, json=quote, headers=helpers.vouched_as_frontend())
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["contact.phone"]
        assert await nothing_stored(session)

    @pytest.mark.parametrize("phone", ["512-555-0147", "(787) 555-1234", "671-555-1234"])
    async def test_a_fixed_line_or_mobile_number_is_taken(self, client: AsyncClient, key: str, phone: str) -> None:
        payload = lead_payload()
        payload["contact"]["phone"] = phone
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert response.status_code == 202, response.text

    async def test_a_person_may_still_ask_to_be_left_alone_at_any_number(
        self, client: AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        for phone in ("800-225-5288", "900-225-5288", "500-225-5288"):
            opt_out = await client.post("/api/v1/opt-outs", json={"phone": phone}, headers=admin_headers)
            assert opt_out.status_code == 200, opt_out.text


class TestNamesAndText:
    @pytest.mark.parametrize(
        ("first_name", "reason"),
        [
            ("\x07\x1b[2J\x1b[31mPat", "control character"),
            ("\u009b31mPat", "control character"),
            ("\u202eeoD taP", "bidirectional"),
            ("Pat\u2066", "bidirectional"),
            ("\u200b", "a letter"),
            (".", "a letter"),
            ("1234", "a letter"),
        ],
        ids=["escape sequence", "c1 control", "right-to-left override", "isolate", "zero-width space only",
             "a dot", "digits"],
    )  # fmt: skip
    async def test_a_name_no_person_has_is_refused(
        self, client: AsyncClient, key: str, session: AsyncSession, first_name: str, reason: str
    ) -> None:
        payload = lead_payload()
        payload["contact"]["first_name"] = first_name
        [error] = await refused_on(client, key, payload)
        assert error["field"] == "contact.first_name" and reason in error["reason"], error
        assert await nothing_stored(session)

    @pytest.mark.parametrize("name", ["Zoë", "O'Brien-Smith", "José María", "李", "محمد", "Nguyễn"])
    async def test_names_in_any_script_are_taken(self, client: AsyncClient, key: str, name: str) -> None:
        payload = lead_payload()
        payload["contact"]["last_name"] = name
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert response.status_code == 202, response.text

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            (lambda p: p["contact"]["address"].update(street="12 Oak\x1b[2J Street"), "contact.address.street"),
            (lambda p: p["contact"]["address"].update(city="Aus\u202etin"), "contact.address.city"),
            (lambda p: p["details"]["vehicles"][0].update(model="Cam\x08ry"), "details.vehicles.0.model"),
            (lambda p: p.update(current_carrier="Acme\tMutual"), "current_carrier"),
            (lambda p: p.update(user_agent="Mozilla/5.0\r\nX-Injected: 1"), "user_agent"),
            (lambda p: p.update(notes="call after six\u202e"), "notes"),
            (lambda p: p.update(notes="call \x1b[31mafter six"), "notes"),
            (lambda p: p["consent"].update(text="I agree to be contacted\u202e by licensed agents."), "consent.text"),
        ],
        ids=["street", "city", "vehicle model", "tab in a one-line field", "line break in a one-line field",
             "bidi in the notes", "escape in the notes", "bidi in the consent text"],
    )  # fmt: skip
    async def test_control_and_bidi_characters_are_refused_in_every_text_of_a_lead(
        self, client: AsyncClient, key: str, session: AsyncSession, change: Any, field: str
    ) -> None:
        payload = lead_payload()
        change(payload)
        [error] = await refused_on(client, key, payload)
        assert error["field"] == field, error
        assert await nothing_stored(session)

    async def test_the_notes_and_the_consent_text_keep_their_line_breaks_and_tabs(
        self, client: AsyncClient, key: str, session: AsyncSession
    ) -> None:
        notes = "Call after six.\r\nSpouse:\tRobin\nPrefers text."
        text = "I agree to be contacted\n\tby licensed agents about insurance quotes.\r\n"
        payload = lead_payload(notes=notes)
        payload["consent"]["text"] = text
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert response.status_code == 202, response.text
        lead = await session.scalar(select(Lead))
        record = await session.scalar(select(ConsentRecord))
        assert lead is not None and record is not None and (lead.notes, record.text) == (notes, text)

    async def test_the_quote_form_refuses_them_too(self, client: AsyncClient, session: AsyncSession) -> None:
        quote = quote_request_payload()
        quote["contact"]["last_name"] = "\u202eseyeR"
        response = await client.post(QUOTES, json=quote, headers=helpers.vouched_as_frontend())
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["contact.last_name"]
        assert await nothing_stored(session)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February, in a year without one
        return day.replace(year=day.year - years, day=28)


class TestDates:
    @pytest.mark.parametrize(
        "born",
        [
            lambda: today(),
            lambda: _years_before(today(), 16) + timedelta(days=1),
            lambda: _years_before(today(), 121),
            lambda: date(1900, 1, 1),
        ],
        ids=["today", "a day short of 16", "121", "1900"],
    )
    async def test_a_date_of_birth_of_someone_younger_than_16_or_older_than_120_is_refused(
        self, client: AsyncClient, key: str, session: AsyncSession, born: Any
    ) -> None:
        payload = lead_payload()
        payload["contact"]["date_of_birth"] = str(born())
        [error] = await refused_on(client, key, payload)
        assert error["field"] == "contact.date_of_birth" and "aged 16 to 120" in error["reason"], error
        assert await nothing_stored(session)

    @pytest.mark.parametrize(
        "born",
        [lambda: _years_before(today(), 16), lambda: _years_before(today(), 121) + timedelta(days=1)],
        ids=["16 today", "120, a day short of 121"],
    )
    async def test_a_date_of_birth_of_someone_16_to_120_is_taken(
        self, client: AsyncClient, key: str, born: Any
    ) -> None:
        payload = lead_payload()
        payload["contact"]["date_of_birth"] = str(born())
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        assert response.status_code == 202, response.text

    @pytest.mark.parametrize(
        ("start", "taken"),
        [
            (lambda: date(1, 1, 1), False),
            (lambda: date(1901, 1, 1), False),
            (lambda: date(9999, 12, 31), False),
            (lambda: today() - timedelta(days=366), False),
            (lambda: today() + timedelta(days=2 * 365 + 1), False),
            (lambda: today() - timedelta(days=365), True),
            (lambda: today(), True),
            (lambda: today() + timedelta(days=2 * 365), True),
        ],
        ids=["year 1", "1901", "9999", "over a year ago", "over 2 years ahead", "a year ago", "today",
             "2 years ahead"],
    )  # fmt: skip
    async def test_a_health_cover_starts_within_a_year_back_and_two_ahead(
        self, client: AsyncClient, key: str, start: Any, taken: bool
    ) -> None:
        payload = lead_payload(line="health", details={"household": [{"relationship": "self", "age": 40}]})
        payload["details"]["coverage_start"] = str(start())
        response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
        if taken:
            assert response.status_code == 202, response.text
        else:
            assert response.status_code == 422, response.text
            [error] = response.json()["errors"]
            assert error["field"] == "details.coverage_start" and "1 year" in error["reason"], error


class TestUnreadableJson:
    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (json.dumps(lead_payload())[:-1] + ', "zzz": ' + "[" * 20000 + "]" * 20000 + "}", "nested too deeply"),
            (json.dumps(lead_payload())[:-1] + ', "x": ' + "9" * 5000 + "}", "digits"),
            (b'{"line": "auto", "notes": "\xff"}', "UTF-8"),
        ],
        ids=["deeply nested", "5000-digit number", "not utf-8"],
    )
    async def test_json_the_parser_gives_up_on_is_a_422_on_the_body(
        self, client: AsyncClient, key: str, session: AsyncSession, body: str | bytes, reason: str
    ) -> None:
        headers = {"X-API-Key": key, "content-type": "application/json"}
        response = await client.post(LEADS, content=body, headers=headers)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == "body" and "not valid JSON" in error["reason"] and reason in error["reason"], error
        assert await nothing_stored(session)

    async def test_the_quote_form_answers_it_alike(self, client: AsyncClient) -> None:
        body = '{"line":"auto","details":' + "[" * 20000 + "]" * 20000 + "}"
        response = await client.post(
            QUOTES, content=body, headers={"content-type": "application/json", **helpers.vouched_as_frontend()}
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body"]


class TestListing:
    @pytest.mark.parametrize("offset", ["9223372036854775808", "99999999999999999999", "1000001"])
    async def test_an_offset_past_the_bound_is_a_422_on_offset(
        self, client: AsyncClient, admin_headers: dict[str, str], offset: str
    ) -> None:
        response = await client.get(f"{LEADS}?offset={offset}", headers=admin_headers)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["query.offset"]

    async def test_the_dashboards_last_page_is_within_it(
        self, client: AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get(f"{LEADS}?offset={9_999 * 50}", headers=admin_headers)
        assert response.status_code == 200 and response.json() == [], response.text


class TestTheQuoteFormsSource:
    async def test_no_key_is_issued_for_a_web_source(self, client: AsyncClient, session: AsyncSession) -> None:
        assert (
            await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
        ).status_code == 202
        with pytest.raises(Conflict, match="web-form is the quote form's source"):
            await create_api_key(session, "web-form", None, "admin")
        with pytest.raises(Conflict, match="a web source takes no API key"):
            await create_api_key(session, "another-form", SourceKind.WEB, "admin")
        await session.rollback()
        assert (await session.scalars(select(ApiKey))).all() == []
        assert (await session.scalars(select(Source.name))).all() == ["web-form"]

    async def test_a_key_for_the_quote_forms_name_is_refused_before_its_first_visitor(
        self, session: AsyncSession
    ) -> None:
        with pytest.raises(Conflict, match="web-form is the quote form's source"):
            await create_api_key(session, "web-form", None, "admin")

    @pytest.mark.parametrize("kind", [SourceKind.WEB, SourceKind.VENDOR])
    async def test_a_key_issued_before_for_the_quote_forms_source_is_refused_and_the_form_still_works(
        self, client: AsyncClient, session: AsyncSession, kind: SourceKind
    ) -> None:
        """Made before keys were refused for it, ``web-form`` may even be a vendor source: its key
        posts nothing, and the form's visitors are still taken."""
        source = Source(name="web-form", kind=kind)
        session.add(source)
        await session.flush()
        key = generate_api_key()
        session.add(ApiKey(source_id=source.id, prefix=key.prefix, digest=key.digest))
        await session.commit()
        response = await client.post(LEADS, json=lead_payload(), headers={"X-API-Key": key.plaintext})
        assert response.status_code == 401, response.text
        assert await nothing_stored(session)
        assert (
            await client.post(QUOTES, json=quote_request_payload(), headers=helpers.vouched_as_frontend())
        ).status_code == 202


def test_the_cli_says_why_no_key_is_issued_for_the_quote_form(settings_env: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from leadgen.cli.main import app

    refused = CliRunner().invoke(app, ["api-keys", "create", "web-form"])
    assert refused.exit_code == 1, refused.output
    assert "web-form is the quote form's source" in refused.stderr
    web = CliRunner().invoke(app, ["api-keys", "create", "acme-form", "--kind", "web"])
    assert web.exit_code == 1 and "a web source takes no API key" in web.stderr


async def test_a_privacy_export_by_any_number_is_taken(
    data_client: AsyncClient, session: AsyncSession, client: AsyncClient
) -> None:
    admin = await helpers.user(session, Role.ADMIN)
    await session.commit()
    headers = await helpers.bearer(client, admin)
    response = await data_client.post("/api/v1/privacy/export", json={"phone": "900-225-5288"}, headers=headers)
    assert response.status_code == 200, response.text
