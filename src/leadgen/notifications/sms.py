"""SMS through a Twilio-compatible Messages API."""

from __future__ import annotations

import httpx

from leadgen.core.settings import SmsSettings


class SmsError(Exception):
    """The provider refused or failed; 5xx and network errors are worth a retry."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


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
    if response.status_code >= 400:
        raise SmsError(f"SMS provider refused the message ({response.status_code})", retryable=False)
    return str(response.json().get("sid", ""))
