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


def new_message_id() -> str:
    """An email's Message-ID, made before the first try so that every retry carries it."""
    return make_msgid(domain="waybill.local")


def new_reference() -> str:
    """An SMS's client reference, made before the first try."""
    return uuid.uuid4().hex


#: A file sent with an email: (file name, content, MIME type).
Attachment = tuple[str, bytes, str]


class Mailer(Protocol):
    name: str

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None,
             attachments: tuple[Attachment, ...] = ()) -> str:
        """Send with ``message_id`` (one is made when not given); return the message id."""


class LogMailer:
    """Writes each email to the log: the embedded default when no SMTP server is set."""

    name = "log"

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None,
             attachments: tuple[Attachment, ...] = ()) -> str:
        message_id = message_id or new_message_id()
        files = "".join(f"\n[attached: {name}, {len(data):,} bytes]" for name, data, _ in attachments)
        log.info("email to %s: %s\n%s%s", to, subject, body, files)
        return message_id


class SmtpMailer:
    """Sends over SMTP, keeping one connection per thread and reconnecting when it drops."""

    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, use_tls: bool = False, timeout: float = 15):
        #: Seconds a connection, a command or a reply may take; a message takes at most two tries.
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

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None,
             attachments: tuple[Attachment, ...] = ()) -> str:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg["Message-ID"] = message_id or new_message_id()
        msg.set_content(body)
        for name, data, mime in attachments:
            maintype, _, subtype = mime.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
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

    def send(self, to: str, text: str, *, reference: str | None = None) -> str:
        """Send with ``reference`` as the client reference (the gateway refuses a second
        message with the same one); return the gateway's message id."""


class LogSmsGateway:
    """Writes each SMS to the log; real providers plug in behind the same interface."""

    name = "log-sms"

    def send(self, to: str, text: str, *, reference: str | None = None) -> str:
        log.info("sms to %s: %s", to, text)
        return reference or new_reference()


def make_mailer(config) -> Mailer:
    if config.get("MAIL_SERVER"):
        return SmtpMailer(config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_FROM"],
                          username=config.get("MAIL_USERNAME"), password=config.get("MAIL_PASSWORD"),
                          use_tls=config.get("MAIL_USE_TLS", False), timeout=config.get("MAIL_TIMEOUT", 15))
    return LogMailer()


class SmsRefused(Exception):
    """The gateway refused the message for good (a bad number, no credit): not retried."""


class HttpSmsGateway:
    """An SMS gateway over HTTP: ``POST {url}`` with JSON ``{"to", "text", "from",
    "reference"}`` and ``Authorization: Bearer {token}``; a 2xx answer's JSON ``id`` is
    the gateway's message id. The same ``reference`` again answers 409 with the first
    message's id: the message was taken once, which is what a retry wants. 4xx refuse for
    good, but for credentials (401, 403: fixed, the messages go), 408 and 429; anything
    else (5xx, a timeout, a closed connection) raises for a retry. The shape of Vietnam's brand-name SMS APIs; another adapts in a subclass."""

    name = "http-sms"

    def __init__(self, url: str, *, token: str | None, sender: str, timeout: float = 10):
        import urllib3

        self.url, self.token, self.sender = url, token, sender
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)

    def send(self, to: str, text: str, *, reference: str | None = None) -> str:
        import json

        reference = reference or new_reference()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        answer = self._http.request("POST", self.url, headers=headers, body=json.dumps(
            {"to": to, "text": text, "from": self.sender, "reference": reference}).encode())
        body = answer.data[:2000]
        if 200 <= answer.status < 300 or answer.status == 409:
            try:
                return str(json.loads(body)["id"])
            except (ValueError, KeyError, TypeError):
                return reference
        if 400 <= answer.status < 500 and answer.status not in (401, 403, 408, 429):
            raise SmsRefused(f"the SMS gateway refused it ({answer.status}): {body.decode(errors='replace')[:200]}")
        raise ConnectionError(f"the SMS gateway answered {answer.status}")


def make_sms_gateway(config) -> SmsGateway:
    kind = config.get("SMS_GATEWAY", "log")
    if kind == "log":
        return LogSmsGateway()
    if kind == "http":
        if not config.get("SMS_GATEWAY_URL"):
            raise ValueError("SMS_GATEWAY=http needs SMS_GATEWAY_URL")
        return HttpSmsGateway(config["SMS_GATEWAY_URL"], token=config.get("SMS_GATEWAY_TOKEN"),
                              sender=config.get("SMS_SENDER") or "Waybill",
                              timeout=config.get("SMS_GATEWAY_TIMEOUT", 10))
    raise ValueError(f"unknown SMS_GATEWAY {kind!r}")
