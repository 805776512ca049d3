"""Whom the retention purge anonymises: every lead of the person last active before the cutoff."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import String, create_engine, literal, select

from leadgen.dedupe.rules import IdentityKeys, phones_match, phones_match_clause, same_person
from leadgen.privacy.rules import LeadActivity, due, named_by_request, retention_cutoff

NOW = datetime(2032, 6, 1, 12, tzinfo=UTC)
CUTOFF = retention_cutoff(NOW, 1828)
LONG_AGO = CUTOFF - timedelta(days=30)


def ended(received_at: datetime = LONG_AGO, last_event_at: datetime | None = LONG_AGO) -> LeadActivity:
    return LeadActivity(received_at, last_event_at)


def test_the_cutoff_is_the_retention_before_now() -> None:
    assert retention_cutoff(NOW, 1828) == datetime(2027, 5, 31, 12, tzinfo=UTC)  # 2028 is a leap year


def test_a_person_whose_leads_all_ended_before_the_cutoff_is_due() -> None:
    assert due([ended(), ended(last_event_at=None), ended(received_at=LONG_AGO - timedelta(days=900))], CUTOFF)


def test_nobody_left_to_anonymise_is_not_due() -> None:
    assert not due([], CUTOFF)


@pytest.mark.parametrize(
    "recent",
    [
        ended(last_event_at=CUTOFF),  # an outcome, a return, a status change at the cutoff itself
        ended(last_event_at=NOW),
        ended(received_at=CUTOFF + timedelta(seconds=1), last_event_at=None),  # asked again lately
    ],
)
def test_any_lead_of_the_person_active_since_the_cutoff_keeps_them_all(recent: LeadActivity) -> None:
    assert not due([ended(), recent], CUTOFF)


EXTENSIONS = (None, "101", "202")


@pytest.mark.parametrize(("extension", "other"), list(itertools.product(EXTENSIONS, EXTENSIONS)))
def test_the_purges_query_tells_people_at_one_switchboard_apart_as_dedupe_does(
    extension: str | None, other: str | None
) -> None:
    """``privacy.repository.candidates`` pairs a lead with the person's others in SQL."""
    query = select(phones_match_clause(literal(extension, String), literal(other, String)))
    with create_engine("sqlite://").connect() as connection:
        assert bool(connection.scalar(query)) == phones_match(extension, other)


@pytest.mark.parametrize(
    ("asked", "lead", "named"),
    [
        (IdentityKeys("p", None, None, "101"), IdentityKeys("p", None, None, "101"), True),
        (IdentityKeys("p", None, None, None), IdentityKeys("p", None, None, None), True),
        (IdentityKeys("p", None, None, "101"), IdentityKeys("p", None, None, "202"), False),
        (IdentityKeys("p", None, None, "101"), IdentityKeys("p", None, None, None), False),
        (IdentityKeys("p", None, None, None), IdentityKeys("p", None, None, "101"), False),
        (IdentityKeys("p", "e", None, "101"), IdentityKeys("q", "e", None, "202"), True),
        (IdentityKeys(None, "e", None, None), IdentityKeys("p", "f", None, None), False),
    ],
    ids=[
        "same extension",
        "both main number",
        "other extension",
        "lead of the main number",
        "asked by the main number",
        "same e-mail",
        "nothing in common",
    ],
)
def test_a_request_names_only_leads_of_its_e_mail_or_its_very_extension(
    asked: IdentityKeys, lead: IdentityKeys, named: bool
) -> None:
    """Stricter than dedupe, for which the main number reaches every extension."""
    assert named_by_request(asked, lead) is named
    assert same_person(asked, lead) or not named
