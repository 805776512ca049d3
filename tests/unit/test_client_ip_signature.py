"""The frontend's signature over the client address it forwards: a bad one vouches for nothing."""

from __future__ import annotations

import pytest

from leadgen.core.security import sign_client_ip, vouched_client_ip

KEY = "k" * 48
ADDRESS = "203.0.113.9"


def test_the_right_signature_vouches_for_the_address() -> None:
    assert vouched_client_ip(KEY, ADDRESS, sign_client_ip(KEY, ADDRESS)) == ADDRESS


@pytest.mark.parametrize(
    "signature",
    [
        sign_client_ip("another key" * 4, ADDRESS),
        sign_client_ip(KEY, "198.51.100.7"),
        "\xe9",  # a header byte outside ASCII, as Starlette decodes it (latin-1)
        "é" * 64,
        "",
        None,
    ],
)
def test_a_wrong_or_malformed_signature_vouches_for_nothing(signature: str | None) -> None:
    assert vouched_client_ip(KEY, ADDRESS, signature) is None
