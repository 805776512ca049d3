"""E-mail over SMTP with the standard library client."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from leadgen.core.settings import SmtpSettings


def send_email(cfg: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = cfg.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(cfg.host, cfg.port, timeout=10) as client:
        if cfg.starttls:
            client.starttls()
        if cfg.username and cfg.password:
            client.login(cfg.username, cfg.password.get_secret_value())
        client.send_message(message)
