"""Reminder e-mails, composed in the owner's language and time zone."""

from __future__ import annotations

import smtplib
import ssl
from email import policy

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_mail import Message

from app import urls
from app.domain.events import subject_path
from app.domain.reminders import as_utc, user_zone
from app.models.reminders import Reminder

# CPython 3.11 folds long non-ASCII subjects and loses their spaces (python/cpython#92081);
# SMTP allows 998-character lines, which keeps any realistic subject on one line.
_SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


class CrmMessage(Message):
    def _message(self):
        message = super()._message()
        message.policy = _SMTP_POLICY
        return message


def reminder_message_id(reminder: Reminder) -> str:
    """The same for every attempt at the same reminder time, so a mail server can drop a repeat."""
    domain = current_app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2].strip(">") or "zaptrade.local"
    return f"<reminder-{reminder.id}-{int(as_utc(reminder.due_at).timestamp())}@{domain}>"


def reminder_link(reminder: Reminder) -> str:
    return urls.public_url() + subject_path(reminder.request_id, reminder.organization_id)


def reminder_email(reminder: Reminder) -> CrmMessage:
    """The e-mail for a reminder, in the company's language and the owner's time zone."""
    owner = reminder.owner
    if not owner.email:
        raise ValueError("the owner has no e-mail address")
    zone = user_zone(owner)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        first_line = reminder.text.strip().splitlines()[0] if reminder.text.strip() else ""
        subject = _("Reminder: %(text)s", text=first_line[:120])
        body = render_template(
            "crm/reminder_email.txt",
            reminder=reminder,
            due=as_utc(reminder.due_at).astimezone(zone).strftime("%d.%m.%Y %H:%M"),
            zone=str(zone),
            link=reminder_link(reminder),
        )
    message = CrmMessage(subject=subject, recipients=[owner.email], body=body)
    message.msgId = reminder_message_id(reminder)
    return message


def mail_configured() -> bool:
    """A company mail server is set (MAIL_SERVER); without one reminders go to the Agent only."""
    return bool((current_app.config.get("MAIL_SERVER") or "").strip())


# What a manager reads for a failed e-mail, by the technical error's class (the text stays for the admin).
_REASONS = [
    (("SMTPAuthenticationError",), _l("login to the mail server failed")),
    (("SMTPRecipientsRefused",), _l("the address was refused by the server")),
    (("SMTPSenderRefused",), _l("the sender address was refused by the server")),
    (("SSLError", "SSLCertVerificationError", "SMTPNotSupportedError"), _l("encrypted connection (TLS/SSL) failed")),
    (("ValueError: the owner has no e-mail",), _l("the user has no e-mail address")),
    (
        (
            "ConnectionRefusedError",
            "ConnectionResetError",
            "SMTPConnectError",
            "SMTPServerDisconnected",
            "TimeoutError",
            "timeout",
            "gaierror",
            "OSError",
        ),
        _l("the mail server is unreachable"),
    ),
]


def failure_reason(technical: str | None) -> str:
    """A failed attempt's reason in the user's language, from the stored technical text."""
    text = technical or ""
    for markers, reason in _REASONS:
        if any(text.startswith(marker) or f"{marker}:" in text for marker in markers):
            return str(reason)
    return str(_l("the mail server did not accept the e-mail"))


def _open_smtp(timeout: float) -> smtplib.SMTP:
    """A connection to the configured mail server, encrypted and logged in as configured."""
    config = current_app.config
    host, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
    if config.get("MAIL_USE_SSL"):
        server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
    try:
        server.ehlo()
        if config.get("MAIL_USE_TLS"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
            server.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    except BaseException:
        server.close()
        raise
    return server


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}".strip()


def smtp_probe(timeout: float = 5) -> tuple[bool, str]:
    """A cheap check that the mail server answers (connect, EHLO, login if configured, NOOP):
    True and its answer, or False and the error."""
    try:
        server = _open_smtp(timeout)
        try:
            code, text = server.noop()
        finally:
            _quit(server)
    except (smtplib.SMTPException, OSError) as error:
        return False, f"{error.__class__.__name__}: {error}"
    return code == 250, _answer(code, text)


def send_test_email(recipient: str, timeout: float = 15) -> tuple[bool, str]:
    """The admin's «Отправить тестовое письмо»: True and the server's final answer to the message,
    or False and the error (technical text; failure_reason() says it in the user's language)."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        message = CrmMessage(
            subject=_("ZapTrade CRM: test e-mail"),
            recipients=[recipient],
            body=_("This is a test e-mail from ZapTrade CRM. Reminders will arrive the same way."),
            sender=current_app.config["MAIL_DEFAULT_SENDER"],
        )
    try:
        server = _open_smtp(timeout)
        try:
            sender = message.sender if isinstance(message.sender, str) else message.sender[1]
            code, text = server.mail(sender.rpartition("<")[2].strip(">") or sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, sender)
            code, text = server.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
            code, text = server.data(message.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, text)
        finally:
            _quit(server)
    except (smtplib.SMTPException, OSError) as error:
        return False, f"{error.__class__.__name__}: {error}"
    return True, _answer(code, text)
