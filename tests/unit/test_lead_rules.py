"""Normalisation, geography, consent and scoring: pure functions, no database."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from leadgen.agents.schemas import LicenceIn
from leadgen.compliance import rules
from leadgen.compliance.rules import (
    AREA_CODE_STATES,
    STATE_CONTACT_HOURS,
    consent_problem,
    contact_hours,
    contact_states,
    in_contact_window,
    next_contact_time,
)
from leadgen.dedupe.rules import identity_keys
from leadgen.frontend import router as dashboard
from leadgen.leads.geography import (
    STATE_OTHER_TIMEZONES,
    STATE_TIMEZONES,
    STATES,
    state_for_zip,
    timezone_for_state,
)
from leadgen.leads.normalize import US_REGIONS, address_key, phone_e164, zip5
from leadgen.leads.schemas import LeadCreate
from leadgen.scoring.rules import rules_score
from leadgen.stores.embedding import REGION_OF
from tests.conftest import lead_payload


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(512) 555-0147", "+15125550147"),
        ("512.555.0147", "+15125550147"),
        ("+1 512 555 0147", "+15125550147"),
        ("555-0147", None),
        ("12", None),
        ("(000) 555-0147", None),
    ],
)
def test_phone_to_e164(raw: str, expected: str | None) -> None:
    assert phone_e164(raw) == expected


@pytest.mark.parametrize(
    ("zip_code", "state"),
    [
        ("78701", "TX"),
        ("10001", "NY"),
        ("99501", "AK"),
        ("00601", "PR"),
        ("20500", "DC"),
        ("96201", None),
        ("00100", None),
        ("88501", "TX"),
        ("73301", "TX"),
        ("96701", "HI"),
        ("96799", "AS"),  # American Samoa's one ZIP, in Hawaii's prefix
        ("96910", "GU"),
        ("96932", "GU"),
        ("96950", "MP"),
        ("96952", "MP"),
        ("96940", None),  # Palau, Micronesia and the Marshall Islands share 969 but are not the US
        ("96960", None),
    ],
)
def test_zip_to_state(zip_code: str, state: str | None) -> None:
    assert state_for_zip(zip_code) == state


def asked_at_once(state: str, moments: list[datetime]) -> list[bool]:
    """Whether the state's contact window is open at each moment, asked from a thread each, at once."""
    start = threading.Barrier(len(moments))

    def ask(when: datetime) -> bool:
        start.wait()
        return in_contact_window(state, when)

    with ThreadPoolExecutor(len(moments)) as pool:
        return list(pool.map(ask, moments))


class TestTerritories:
    """Every place that enumerates states knows the territories whose phones and addresses intake takes."""

    def test_every_territory_with_us_phones_is_a_state_with_its_own_time_zone(self) -> None:
        assert US_REGIONS - {"US"} <= STATES
        zones = {"AS": "Pacific/Pago_Pago", "MP": "Pacific/Saipan", "GU": "Pacific/Guam"}
        assert {state: timezone_for_state(state) for state in zones} == zones

    def test_every_enumeration_of_states_names_known_states_only(self) -> None:
        zip_states = {state_for_zip(f"{number:05d}") for number in range(100_000)} - {None}
        assert zip_states == STATES
        assert set(STATE_OTHER_TIMEZONES) | set(STATE_CONTACT_HOURS) | set(AREA_CODE_STATES.values()) <= STATES
        for zone in (*STATE_TIMEZONES.values(), *STATE_OTHER_TIMEZONES.values()):
            ZoneInfo(zone)

    def test_every_state_has_an_embedding_region(self) -> None:
        assert set(REGION_OF) == STATES

    @pytest.mark.parametrize(
        ("state", "open_at", "closed_at"),
        [
            # 9 am in Saipan is 6 pm the day before in New York; 11 pm in Saipan is 8 am there.
            ("MP", datetime(2026, 1, 14, 23, tzinfo=UTC), datetime(2026, 1, 15, 13, tzinfo=UTC)),
            # 9 am in Pago Pago is 3 pm in New York; 2 am in Pago Pago is 8 am there.
            ("AS", datetime(2026, 1, 15, 20, tzinfo=UTC), datetime(2026, 1, 15, 13, tzinfo=UTC)),
        ],
    )
    def test_calling_hours_are_the_territorys_own(self, state: str, open_at: datetime, closed_at: datetime) -> None:
        assert in_contact_window(state, open_at)
        assert not in_contact_window(state, closed_at)

    def test_the_dashboard_says_when_calls_open_in_the_territorys_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(dashboard, "utcnow", lambda: datetime(2026, 1, 15, 13, tzinfo=UTC))  # Thu 11 pm, Saipan
        calling = dashboard._calling_hours(["MP"])
        assert (calling["open"], calling["opens_local"]) == (False, "Fri 08:00 ChST")

    def test_a_licence_and_an_address_in_a_territory_are_taken(self) -> None:
        assert LicenceIn(state="mp", line="auto", expires_on=date(2035, 1, 1)).state == "MP"
        payload = lead_payload()
        payload["contact"].update(phone="684-733-1234", address={"city": "Pago Pago", "zip": "96799", "state": "AS"})
        assert TypeAdapter(LeadCreate).validate_python(payload).contact.address.state == "AS"


def test_zip_plus_four_and_address_keys() -> None:
    assert zip5("78701-1234") == "78701"
    assert zip5("7870") is None
    assert address_key("12 Oak Street, Apt. 4", "78701") == address_key("12 oak st apt 4", "78701")


def test_a_zip_is_ascii_digits_and_an_address_key_needs_a_word() -> None:
    arabic_indic, fullwidth = "\u0667\u0668\u0667\u0660\u0661", "\uff17\uff18\uff17\uff10\uff11"  # 78701
    assert zip5(arabic_indic) is None and zip5(fullwidth) is None
    fullwidth_street = "\uff11\uff12 \uff2f\uff41\uff4b Street"  # 12 Oak Street
    assert address_key(fullwidth_street, "78701") == address_key("12 oak st", "78701")
    assert address_key("-", "78701") is None and address_key(" . ", "78701") is None


def test_identity_keys_are_keyed_hashes_not_pii() -> None:
    keys = identity_keys("k" * 32, "+15125550147", "Pat@Example.com", "12 Oak St", "78701")
    same = identity_keys("k" * 32, "+15125550147", "pat@example.com", "12 oak street", "78701")
    other_key = identity_keys("z" * 32, "+15125550147", "pat@example.com", None, "78701")
    assert keys == same
    assert keys.phone != other_key.phone
    assert "5550147" not in (keys.phone or "")


class TestSchema:
    adapter: TypeAdapter[object] = TypeAdapter(LeadCreate)

    def test_line_picks_its_details_model(self) -> None:
        payload = lead_payload(
            line="home", details={"year_built": 1990, "square_feet": 1800, "dwelling_coverage": 350000}
        )
        lead = self.adapter.validate_python(payload)
        assert type(lead).__name__ == "HomeLead"

    def test_unknown_fields_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            self.adapter.validate_python(lead_payload(favourite_colour="blue"))

    def test_contact_needs_phone_or_email(self) -> None:
        payload = lead_payload()
        payload["contact"].pop("phone")
        payload["contact"].pop("email")
        with pytest.raises(ValidationError, match="a phone number or an e-mail address is required"):
            self.adapter.validate_python(payload)


class TestConsent:
    now = datetime(2026, 6, 1, 15, tzinfo=UTC)

    def test_web_lead_needs_consent(self) -> None:
        assert consent_problem("web", False, None, self.now, web_traces=False)
        assert consent_problem("phone", False, None, self.now, web_traces=False) is None

    def test_a_lead_with_a_web_forms_traces_needs_consent_whatever_origin_its_sender_says(self) -> None:
        assert consent_problem("phone", False, None, self.now, web_traces=True) == (
            "a lead with a landing page, IP address or user agent came from a web form: it must include consent"
        )
        assert consent_problem("phone", True, self.now, self.now, web_traces=True) is None

    def test_stale_or_future_consent(self) -> None:
        stale = consent_problem("web", True, self.now - timedelta(days=31), self.now, web_traces=False)
        assert stale == "consent is older than 30 days"
        ahead = consent_problem("web", True, self.now + timedelta(hours=1), self.now, web_traces=False)
        assert ahead == "consent.captured_at is in the future"

    def test_contact_window_uses_the_leads_local_time(self) -> None:
        # 13:30 UTC is 8:30 in Chicago (CDT) but 6:30 in Los Angeles.
        at = datetime(2026, 6, 1, 13, 30, tzinfo=UTC)
        assert in_contact_window("IL", at)
        assert not in_contact_window("CA", at)
        assert next_contact_time("CA", at) == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
        assert next_contact_time("IL", at) == at

    def test_a_state_split_between_zones_waits_for_the_later_one(self) -> None:
        # 12:30 UTC is 8:30 in Miami but 7:30 in Pensacola; 00:30 UTC is 20:30 in Miami (past
        # Florida's 8 pm) but 19:30 in Pensacola.
        morning, evening = datetime(2026, 6, 1, 12, 30, tzinfo=UTC), datetime(2026, 6, 2, 0, 30, tzinfo=UTC)
        assert not in_contact_window("FL", morning) and not in_contact_window("FL", evening)
        assert next_contact_time("FL", morning) == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
        assert next_contact_time("FL", evening) == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)
        assert in_contact_window("GA", evening)  # the federal 9 pm, one zone

    def test_state_hours_narrower_than_the_federal_rule(self) -> None:
        # Texas: 9 am to 9 pm, from noon on Sundays, in Houston and in El Paso (an hour behind).
        monday, sunday = datetime(2026, 6, 1, 14, 30, tzinfo=UTC), datetime(2026, 6, 7, 17, 30, tzinfo=UTC)
        assert not in_contact_window("TX", monday)  # 9:30 in Houston, 8:30 in El Paso
        assert next_contact_time("TX", monday) == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
        assert not in_contact_window("TX", sunday)  # 12:30 in Houston, 11:30 in El Paso
        assert next_contact_time("TX", sunday) == datetime(2026, 6, 7, 18, 0, tzinfo=UTC)
        saturday_night = datetime(2026, 6, 7, 3, 0, tzinfo=UTC)  # 22:00 on Saturday in Houston
        assert next_contact_time("TX", saturday_night) == datetime(2026, 6, 7, 18, 0, tzinfo=UTC)
        assert in_contact_window("TX", datetime(2026, 6, 2, 1, 30, tzinfo=UTC))  # 8:30 pm
        assert not in_contact_window("OK", datetime(2026, 6, 2, 1, 30, tzinfo=UTC))  # Oklahoma ends at 8 pm

    def test_an_area_code_a_state_law_presumes_to_be_its_residents_brings_that_state_s_hours(self) -> None:
        assert contact_states("TX", "+14055550142") == ["TX", "OK"]
        assert contact_states("OK", "+19185550142") == ["OK"]
        assert contact_states("TX", "+15125550142") == contact_states("TX", None) == ["TX"]
        monday_evening = datetime(2026, 6, 2, 1, 30, tzinfo=UTC)  # 20:30 in Houston and in Tulsa
        assert in_contact_window("TX", monday_evening, "+15125550142")
        assert not in_contact_window("TX", monday_evening, "+14055550142")  # Oklahoma ends at 8 pm
        # Texas opens last on Tuesday: 9 am in El Paso, an hour after Oklahoma's 8 am.
        assert next_contact_time("TX", monday_evening, "+14055550142") == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)
        # Florida presumes the same of its area codes: a Miami number at a Texas address is texted
        # only before 8 pm in Florida, an hour ahead of Houston.
        assert contact_states("TX", "+13055550142") == contact_states("TX", "+12395550142") == ["TX", "FL"]
        assert not in_contact_window("TX", datetime(2026, 6, 2, 0, 30, tzinfo=UTC), "+13055550142")  # 19:30 CDT
        assert in_contact_window("TX", datetime(2026, 6, 1, 23, 30, tzinfo=UTC), "+13055550142")

    def test_states_closed_on_sundays_open_again_on_monday(self) -> None:
        saturday_night = datetime(2026, 6, 7, 3, 0, tzinfo=UTC)  # 21:00 on Saturday in Salt Lake City
        assert next_contact_time("UT", saturday_night) == datetime(2026, 6, 8, 14, 0, tzinfo=UTC)  # Mon 8:00
        # Rhode Island: 10 am to 5 pm on Saturdays, then nothing until 9 am on Monday.
        saturday = datetime(2026, 6, 6, 13, 30, tzinfo=UTC)  # 9:30 in Providence
        assert next_contact_time("RI", saturday) == datetime(2026, 6, 6, 14, 0, tzinfo=UTC)
        assert next_contact_time("RI", datetime(2026, 6, 6, 21, 0, tzinfo=UTC)) == datetime(
            2026, 6, 8, 13, 0, tzinfo=UTC
        )

    def test_states_that_forbid_calls_on_their_legal_holidays_stay_closed_on_them(self) -> None:
        thanksgiving_noon = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # noon in Birmingham and Chicago
        assert not in_contact_window("AL", thanksgiving_noon)
        assert in_contact_window("IL", thanksgiving_noon)
        assert next_contact_time("AL", thanksgiving_noon) == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Fri 8:00
        # Pennsylvania keeps federal hours, but not on the day after Thanksgiving either.
        assert next_contact_time("PA", thanksgiving_noon) == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
        # Independence Day on a Saturday is observed on the Friday before; Utah's Pioneer Day is its own.
        assert not in_contact_window("UT", datetime(2026, 7, 3, 18, 0, tzinfo=UTC))
        assert not in_contact_window("UT", datetime(2026, 7, 24, 18, 0, tzinfo=UTC))
        assert in_contact_window("CO", datetime(2026, 7, 24, 18, 0, tzinfo=UTC))
        assert contact_hours("UT").holiday(date(2026, 7, 24)) == "Pioneer Day"
        assert contact_hours("TX").holiday(date(2026, 11, 26)) is None  # Texas law names no holidays

    def test_a_sunday_and_a_holiday_monday_close_rhode_island_from_saturday_evening_to_tuesday(self) -> None:
        saturday_evening = datetime(2027, 1, 16, 22, 30, tzinfo=UTC)  # 5:30 pm, before Martin Luther King Jr. Day
        assert next_contact_time("RI", saturday_evening) == datetime(2027, 1, 19, 14, 0, tzinfo=UTC)  # Tue 9:00

    def test_two_threads_meeting_a_year_first_both_see_its_holidays(self) -> None:
        """``leadgen up`` asks from two threads (its web apps, its worker): neither may find a year
        the other is still working out empty, nor leave it so."""
        thanksgivings = [datetime(2027, 11, 25, 17, tzinfo=UTC), datetime(2028, 11, 23, 17, tzinfo=UTC)]  # noon
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the race
        try:
            for _ in range(30):
                rules._legal_holidays.cache_clear()
                assert asked_at_once("PA", thanksgivings) == [False, False]
                assert not any(in_contact_window("PA", when) for when in thanksgivings)
        finally:
            sys.setswitchinterval(switch_interval)

    def test_the_dashboard_names_the_holiday_that_closes_calls_today(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(dashboard, "utcnow", lambda: datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
        calling = dashboard._calling_hours(["AL"])
        assert (calling["open"], calling["opens_local"]) == (False, "Fri 08:00 CST")
        assert calling["rules"] == [
            ("AL", "8 am to 9 pm, not on Sundays, not on the state's legal holidays", 2, "Thanksgiving Day")
        ]
        assert dashboard._calling_hours(["TX"])["rules"][0][3] is None

    def test_the_hours_read_as_an_agent_would_say_them(self) -> None:
        assert contact_hours("RI").describe() == (
            "9 am to 6 pm, 10 am to 5 pm on Saturdays, not on Sundays, not on the state's legal holidays"
        )
        assert contact_hours("TX").describe() == "9 am to 9 pm, noon to 9 pm on Sundays"
        assert contact_hours("GA").describe() == "8 am to 9 pm"

    @pytest.mark.parametrize("state", ["AK", "AL", "AZ", "FL", "HI", "IN", "KS", "ND", "RI", "TN", "TX", "UT"])
    def test_the_next_contact_time_is_the_first_minute_every_zone_allows(self, state: str) -> None:
        # Two weeks around each change of the clocks (8 March and 1 November 2026), every 5 hours.
        for first_day in (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)):
            for hours in range(0, 14 * 24, 5):
                at = first_day + timedelta(hours=hours, minutes=23)
                first_open = at
                while not in_contact_window(state, first_open):
                    first_open += timedelta(minutes=1)  # the hours open on the minute
                assert next_contact_time(state, at) == first_open, at


def test_rules_score_explains_itself() -> None:
    lead = {
        "line": "auto",
        "phone": "+15125550147",
        "email": "a@b.c",
        "currently_insured": True,
        "policy_expires_on": date(2026, 6, 20),
        "details": {"drivers": [{"sr22_required": True}]},
    }
    result = rules_score(lead, date(2026, 6, 1))
    assert result.score == 30 + 15 + 12 + 15 - 10
    assert {"factor": "SR-22 filing required", "points": -10} in result.factors
    assert rules_score({**lead, "is_test": True}, date(2026, 6, 1)).score == 0
