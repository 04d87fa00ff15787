"""Carriers for customer messages: email over SMTP (or the log), SMS through a gateway."""
from __future__ import annotations

import logging
import smtplib
import threading
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

log = logging.getLogger("waybill.messaging")


class Mailer(Protocol):
    name: str

    def send(self, to: str, subject: str, body: str) -> str:
        """Send; return the message id."""


class LogMailer:
    """Writes each email to the log: the embedded default when no SMTP server is set."""

    name = "log"

    def send(self, to: str, subject: str, body: str) -> str:
        message_id = make_msgid(domain="waybill.local")
        log.info("email to %s: %s\n%s", to, subject, body)
        return message_id


class SmtpMailer:
    """Sends over SMTP, keeping one connection per thread and reconnecting when it drops."""

    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, use_tls: bool = False, timeout: float = 15):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.use_tls, self.timeout = username, password, use_tls, timeout
        self._local = threading.local()

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.use_tls:
            smtp.starttls()
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def send(self, to: str, subject: str, body: str) -> str:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg["Message-ID"] = make_msgid(domain="waybill.local")
        msg.set_content(body)
        for attempt in (1, 2):
            smtp = getattr(self._local, "smtp", None)
            try:
                if smtp is None:
                    smtp = self._local.smtp = self._connect()
                smtp.send_message(msg)
                return msg["Message-ID"]
            except (smtplib.SMTPServerDisconnected, ConnectionError, OSError):
                self._local.smtp = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class SmsGateway(Protocol):
    name: str

    def send(self, to: str, text: str) -> str:
        """Send; return the gateway's message id."""


class LogSmsGateway:
    """Writes each SMS to the log; real providers plug in behind the same interface."""

    name = "log-sms"

    def send(self, to: str, text: str) -> str:
        log.info("sms to %s: %s", to, text)
        return uuid.uuid4().hex


def make_mailer(config) -> Mailer:
    if config.get("MAIL_SERVER"):
        return SmtpMailer(config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_FROM"],
                          username=config.get("MAIL_USERNAME"), password=config.get("MAIL_PASSWORD"),
                          use_tls=config.get("MAIL_USE_TLS", False))
    return LogMailer()


def make_sms_gateway(config) -> SmsGateway:
    kind = config.get("SMS_GATEWAY", "log")
    if kind == "log":
        return LogSmsGateway()
    raise ValueError(f"unknown SMS_GATEWAY {kind!r}")
