"""The consent record keeps what the vendor sent, character for character: its text's digest must be
the one the vendor and TrustedForm computed, and its links the ones they gave."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.models import ConsentRecord, Lead
from tests.conftest import lead_payload

LEADS = "/api/v1/leads"

# What parsing or stripping used to change: spaces around the text and a line break in it, a host in
# capitals without a path, a space in a query, and characters outside ASCII. (A certificate's URL
# has its vendor's one form, which none of these fit.)
SENT = {
    "text": "  I agree to be contacted by licensed agents about insurance quotes.\n\nCall me\u00a0\u2014 any time.\n",
    "page_url": "https://Quotes.Example.COM?ref=x y&p=caf\u00e9",
    "trustedform_cert_url": "https://cert.trustedform.com/454a35b802f3e7b63ffabb4efedb7c6ebe67886c",
    "jornaya_leadid": "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF",
}


async def test_the_record_is_what_was_sent_and_its_digest_the_texts(
    client: AsyncClient, key: str, session: AsyncSession
) -> None:
    payload = lead_payload()
    payload["consent"].update(SENT)
    response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
    assert response.status_code == 202, response.text
    lead_id = uuid.UUID(response.json()["id"])
    record = await session.scalar(select(ConsentRecord).where(ConsentRecord.lead_id == lead_id))
    assert record is not None
    assert {field: getattr(record, field) for field in SENT} == SENT
    assert record.text is not None and record.text.encode() == SENT["text"].encode()
    assert record.text_sha256 == hashlib.sha256(SENT["text"].encode()).hexdigest()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("text", " " * 40, "at least 20 characters besides spaces"),
        ("text", "\n\t  too short   \n\n\t\t   ", "at least 20 characters besides spaces"),
        ("text", "I agree to be contacted\x00 by agents.", "NUL character"),
        ("text", "x" * 5001, "at most 5000 characters"),
        ("jornaya_leadid", " A1B2C3D4 ", "should not start or end with a space"),
        ("page_url", " https://quotes.example.com/auto", "without spaces around it"),
        ("page_url", "https://quotes.exam\nple.com/auto", "control characters"),
        ("page_url", "ftp://quotes.example.com/auto", "URL scheme should be 'http' or 'https'"),
        ("trustedform_cert_url", "https://", "valid URL"),
        ("trustedform_cert_url", "https://cert.trustedform.com/" + "a" * 2048, "at most 2048 characters"),
    ],
    ids=["blank text", "short text in spaces", "nul", "long text", "leadid in spaces", "url in spaces",
         "url with a line break", "not http", "no host", "long url"],
)  # fmt: skip
async def test_what_cannot_be_kept_as_sent_is_refused_naming_the_field(
    client: AsyncClient, key: str, session: AsyncSession, field: str, value: str, reason: str
) -> None:
    payload: dict[str, Any] = lead_payload()
    payload["consent"][field] = value
    response = await client.post(LEADS, json=payload, headers={"X-API-Key": key})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == f"consent.{field}" and reason in error["reason"], error
    assert await session.scalar(select(func.count()).select_from(Lead)) == 0
