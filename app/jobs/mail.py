"""Reminder e-mails, composed in the owner's language and time zone."""

from __future__ import annotations

from email import policy

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message

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
    return current_app.config["PUBLIC_URL"].rstrip("/") + subject_path(reminder.request_id, reminder.organization_id)


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
