"""Opt-out rules: which replies revoke consent, the signed unsubscribe link, the provider's signature."""

from __future__ import annotations

import uuid

import pytest
from twilio.request_validator import RequestValidator

from leadgen.compliance.links import is_opt_out_token, lead_of_opt_out_token, opt_out_token
from leadgen.compliance.rules import asks_to_opt_out
from leadgen.core.settings import SmsSettings
from leadgen.notifications.sms import request_signature, signed_by_provider


@pytest.mark.parametrize(
    "reply",
    [
        "STOP",
        "stop",
        " Stop. ",
        "STOPALL",
        "Unsubscribe",
        "cancel",
        "END",
        "quit!",
        "revoke",
        "opt out",
        "Opt-Out",
        "OPTOUT",
        "Please stop texting me",
        "I said STOP!!!",
        "remove me from your list",
        "Don't text me again",
        "do not call",
        "Never e-mail me",
        "no more texts please",
        "wrong number",
        "leave me alone",
        "no more text",
        "No more texting!",
        "no more text messages",
        "opt me out",
        "delete my number",
        "don't send me anything",
    ],
)
def test_replies_that_revoke_consent(reply: str) -> None:
    assert asks_to_opt_out(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "yes",
        "What time will the agent call?",
        "Stopping by later",
        "Cancellation policy?",
        "endorse",
        "optional",
        "please call me tomorrow",
        "the number is right",
        "do not forget my quote",
    ],
)
def test_replies_that_do_not(reply: str) -> None:
    assert not asks_to_opt_out(reply)


class TestUnsubscribeLink:
    def test_names_the_lead_it_was_made_for(self) -> None:
        lead_id = uuid.uuid4()
        assert lead_of_opt_out_token("k" * 32, opt_out_token("k" * 32, lead_id)) == lead_id

    def test_another_key_or_a_changed_token_names_nobody(self) -> None:
        token = opt_out_token("k" * 32, uuid.uuid4())
        assert lead_of_opt_out_token("x" * 32, token) is None
        assert lead_of_opt_out_token("k" * 32, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
        assert lead_of_opt_out_token("k" * 32, "not-a-token") is None

    def test_every_token_made_has_the_shape_checked_before_the_api_is_asked(self) -> None:
        assert all(is_opt_out_token(opt_out_token("k" * 32, uuid.uuid4())) for _ in range(1000))

    @pytest.mark.parametrize("token", ["..", ".", "", "a.b.c", "a./b", "a.b/..", "a b.c", "a.b?x=1", "a" * 200 + ".b"])
    def test_anything_else_is_not_a_token(self, token: str) -> None:
        assert not is_opt_out_token(token)

    def test_a_signed_value_that_is_not_a_lead_id_names_nobody(self) -> None:
        from itsdangerous import URLSafeSerializer

        forged_shape = URLSafeSerializer("k" * 32, salt="leadgen.opt-out").dumps("not-a-uuid")
        assert lead_of_opt_out_token("k" * 32, forged_shape) is None


class TestProviderSignature:
    URL = "https://app.example.com/api/v1/opt-outs/sms?source=twilio"

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"From": "+15125550100", "Body": "STOP", "To": "+15125559999", "MessageSid": "SM123"},
            {"Body": "ünïcode & spaces = fine", "From": "+15125550100"},
        ],
    )
    def test_matches_the_providers_own_library(self, params: dict[str, str]) -> None:
        expected = RequestValidator("secret-token").compute_signature(self.URL, params)
        assert request_signature("secret-token", self.URL, params.items()) == expected

    def test_only_the_auth_tokens_signature_over_the_same_url_and_form_passes(self) -> None:
        cfg = SmsSettings(account_sid="AC1", auth_token="secret-token", from_number="+15125559999")
        params = [("From", "+15125550100"), ("Body", "STOP")]
        good = RequestValidator("secret-token").compute_signature(self.URL, dict(params))
        assert signed_by_provider(cfg, self.URL, params, good)
        assert not signed_by_provider(cfg, self.URL, params, None)
        assert not signed_by_provider(cfg, self.URL + "&x=1", params, good)
        assert not signed_by_provider(cfg, self.URL, [("From", "+15125550101"), ("Body", "STOP")], good)
        other = RequestValidator("another-token").compute_signature(self.URL, dict(params))
        assert not signed_by_provider(cfg, self.URL, params, other)
