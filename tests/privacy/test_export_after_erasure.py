"""An export after an erasure, on both databases, by one of the person's identifiers, shows every
do-not-contact entry the erasure made: the other identifiers' too, which only the consent records
it returns still hold once the leads are anonymised."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from leadgen.core.resources import Resources
from tests import helpers
from tests.conftest import lead_payload
from tests.privacy.test_retention import person

EXPORT = "/api/v1/privacy/export"
ERASE = "/api/v1/privacy/erase"


@pytest.mark.parametrize(
    ("extension", "listed"),
    [("", ["email", "phone"]), (" ext. 42", ["email", "ext"])],
    ids=["number", "number at an extension"],
)
async def test_an_export_by_address_shows_the_number_its_erasure_listed(
    client: AsyncClient,
    data_client: AsyncClient,
    key: str,
    resources: Resources,
    admin_headers: dict[str, str],
    extension: str,
    listed: list[str],
) -> None:
    contact = person()
    contact["phone"] += extension
    await helpers.submitted_and_processed(client, resources, key, lead_payload(contact=contact))
    asked = {"email": contact["email"]}
    assert (await data_client.post(ERASE, json=asked, headers=admin_headers)).status_code == 200

    exported = (await data_client.post(EXPORT, json=asked, headers=admin_headers)).json()

    assert exported["leads"] == [] and len(exported["consent_records"]) == 1
    assert sorted((entry["kind"], entry["reason"]) for entry in exported["do_not_contact"]) == [
        (kind, "erasure request") for kind in listed
    ]
