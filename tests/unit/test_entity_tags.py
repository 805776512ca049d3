"""If-Match as the API compares it with a resource's revision (RFC 9110 §13.1.1)."""

from __future__ import annotations

import pytest

from leadgen.core.http import if_match_revisions, revision_tag


@pytest.mark.parametrize(
    ("header", "revisions"),
    [
        (None, None),
        ("*", None),
        (" * ", None),
        ('"3"', {3}),
        ('"3", "7"', {3, 7}),
        ('W/"3"', set()),
        ('W/"3", "4"', {4}),
        ('"abc"', set()),
        ('"3', set()),
        ("3", set()),
        ("", set()),
    ],
)
def test_if_match_names_only_strong_tags_of_revisions(header: str | None, revisions: set[int] | None) -> None:
    assert if_match_revisions(header) == (None if revisions is None else frozenset(revisions))


def test_a_revisions_tag_is_named_by_if_match() -> None:
    assert if_match_revisions(revision_tag(12)) == frozenset({12})
