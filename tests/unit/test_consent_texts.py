"""The consent texts the api can record, each named by the SHA-256 of its own words."""

from __future__ import annotations

import hashlib

import pytest

from leadgen.compliance.consent import (
    CONSENT_TEXT,
    CONSENT_TEXTS_BY_SHA256,
    PREVIOUS_CONSENT_TEXTS,
    consent_text_sha256,
    is_known_consent_text,
    shown_consent_text,
)


def test_every_text_is_known_by_the_digest_of_its_utf8_words() -> None:
    assert set(CONSENT_TEXTS_BY_SHA256.values()) == {CONSENT_TEXT, *PREVIOUS_CONSENT_TEXTS}
    for digest, text in CONSENT_TEXTS_BY_SHA256.items():
        assert digest == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_digest_names_its_text() -> None:
    digest = consent_text_sha256(CONSENT_TEXT)
    assert is_known_consent_text(digest)
    assert shown_consent_text(digest) == CONSENT_TEXT


def test_one_changed_character_is_another_text() -> None:
    changed = CONSENT_TEXT.replace("\u201c", '"')
    assert not is_known_consent_text(consent_text_sha256(changed))
    with pytest.raises(KeyError):
        shown_consent_text(consent_text_sha256(changed))


def test_no_digest_is_the_current_text() -> None:
    """The previous release's form names no text: for this release it is taken as the current one."""
    assert shown_consent_text(None) == CONSENT_TEXT
