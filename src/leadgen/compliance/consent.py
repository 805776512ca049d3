"""The consent the public quote form asks for, and the texts the api can record as agreed to.

The form sends the SHA-256 of the text it showed beside its checkbox, and the api records the text
with that digest, so the record is the words the person saw even while a rolling upgrade runs a
frontend and an api of different releases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

# The exact words shown beside the quote form's consent checkbox; the api stores this string as the
# consent record of every quote request whose form showed it.
CONSENT_TEXT = (
    "By ticking this box and pressing \u201cGet my quotes\u201d, I agree that licensed insurance "
    "agents working with this agency may contact me about insurance quotes at the phone number "
    "and e-mail address I gave, including by calls and text messages sent with automated "
    "technology or prerecorded voice. My consent is not a condition of buying anything. Message "
    "and data rates may apply. I can withdraw my consent at any time by telling an agent or "
    "replying STOP."
)

# When CONSENT_TEXT changes, its old value moves here for one release: forms of the previous
# release still show it during the rollout, and their requests must be recorded with it. Drop it
# in the release after.
PREVIOUS_CONSENT_TEXTS: tuple[str, ...] = ()


def consent_text_sha256(text: str) -> str:
    """The lowercase hex SHA-256 of the text's UTF-8 bytes: what the form sends and the record keeps."""
    return hashlib.sha256(text.encode()).hexdigest()


# Every text this release may record, by its digest; computed from the texts, so that a digest can
# only name the words it was computed from.
CONSENT_TEXTS_BY_SHA256: Mapping[str, str] = MappingProxyType(
    {consent_text_sha256(text): text for text in (CONSENT_TEXT, *PREVIOUS_CONSENT_TEXTS)}
)


def is_known_consent_text(text_sha256: str) -> bool:
    """Whether this release can record the text with this digest."""
    return text_sha256 in CONSENT_TEXTS_BY_SHA256


def shown_consent_text(text_sha256: str | None) -> str:
    """The consent text a quote form showed, named by the digest it sent (one of
    ``CONSENT_TEXTS_BY_SHA256``; ``KeyError`` for another).

    No digest: the previous release's form, which does not name its text. For this release only it
    is recorded with the current text, as before forms named theirs; that is the text it showed
    only while CONSENT_TEXT stays unchanged, so this release must not change it. The next release
    removes the fallback.
    """
    return CONSENT_TEXT if text_sha256 is None else CONSENT_TEXTS_BY_SHA256[text_sha256]
