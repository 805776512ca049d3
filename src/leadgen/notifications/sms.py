"""SMS through a Twilio-compatible Messages API, and the provider's signature on the requests it
sends us (replies to our texts)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable

import httpx

from leadgen.core.settings import SmsSettings

log = logging.getLogger(__name__)
# The provider's error code for a number whose owner replied STOP to ours (Twilio's 21610, "attempt
# to send to unsubscribed recipient"): it keeps a list of its own, and refuses every text to them.
UNSUBSCRIBED_RECIPIENT = 21610
# How a refusal of one text for good begins (the provider's answer and error code follow): a number
# that cannot get texts (a landline: Twilio's 21614, "not a mobile number"), one it will not text.
TEXT_REFUSED = "SMS provider refused the message"
# The provider refusing our account's credentials (Twilio's 401 or 403, error 20003): a token
# rotated or mistyped refuses every text alike, so it is an outage of ours, not a refusal of one.
CREDENTIALS_REFUSED = frozenset({401, 403})


class SmsError(Exception):
    """The provider refused or failed; 5xx, 429, refused credentials and network errors are worth a
    retry."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class RecipientOptedOut(SmsError):
    """The provider will not text this number: its owner replied STOP to our number, a reply that
    may never have reached us (our webhook was down when the provider called it)."""

    def __init__(self) -> None:
        super().__init__("the recipient opted out of our texts at the SMS provider", retryable=False)


def send_sms(cfg: SmsSettings, to: str, body: str) -> str:
    """Send one message; returns the provider's message id."""
    assert cfg.account_sid and cfg.auth_token and cfg.from_number
    url = f"{str(cfg.api_url).rstrip('/')}/2010-04-01/Accounts/{cfg.account_sid}/Messages.json"
    try:
        response = httpx.post(
            url,
            data={"To": to, "From": cfg.from_number, "Body": body},
            auth=(cfg.account_sid, cfg.auth_token.get_secret_value()),
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise SmsError(f"SMS provider unreachable: {type(exc).__name__}", retryable=True) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise SmsError(f"SMS provider answered {response.status_code}", retryable=True)
    if response.status_code in CREDENTIALS_REFUSED:
        log.error(
            "the SMS provider refused our credentials (%d, error %s): check LEADGEN_SMS_ACCOUNT_SID and "
            "LEADGEN_SMS_AUTH_TOKEN; texts are held and tried again meanwhile",
            response.status_code,
            _error_code(response),
        )
        raise SmsError(f"SMS provider refused our credentials ({response.status_code})", retryable=True)
    if response.status_code >= 400:
        code = _error_code(response)
        if code == UNSUBSCRIBED_RECIPIENT:
            raise RecipientOptedOut
        answer = f"{response.status_code}, error {code}" if code is not None else str(response.status_code)
        raise SmsError(f"{TEXT_REFUSED} ({answer})", retryable=False)
    return str(response.json().get("sid", ""))


def _error_code(response: httpx.Response) -> int | None:
    """The provider's error code in a refusal's JSON body (``{"code": 21610, ...}``), if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def request_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """What the provider puts in ``X-Twilio-Signature``: HMAC-SHA1, keyed with the auth token, of
    the URL it called followed by every form parameter's name and value, sorted by name.

    Written out rather than taken from Twilio's SDK, whose dependencies (aiohttp among them) would
    more than double what the image carries for SMS; the tests check it against the SDK."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_by_provider(cfg: SmsSettings, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    if cfg.auth_token is None or not signature:
        return False
    expected = request_signature(cfg.auth_token.get_secret_value(), url, params)
    # As bytes: a header holding other than ASCII is a wrong signature, not an error.
    return hmac.compare_digest(expected.encode(), signature.encode())
