"""Agent events for what happens to requests and reminders, written with the change itself.

Texts are written once, in the company's default language, as the Agent shows them.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from app.models.events import AgentEvent, EventKind
from app.models.reminders import Reminder
from app.models.requests import Request
from app.models.users import CrmUser

MESSAGE_LIMIT = 400


def _name(user: CrmUser | None) -> str:
    return user.get_full_name() if user is not None else _("system")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _request_event(request: Request, kind: EventKind, actor: CrmUser | None, title: str, message: str) -> AgentEvent:
    event = AgentEvent(
        kind=kind,
        request=request,
        actor_id=actor.id if actor is not None else None,
        title=title,
        message=_short(message),
    )
    request.agent_events.append(event)
    return event


def _locale():
    return force_locale(current_app.config["BABEL_DEFAULT_LOCALE"])


def request_created(request: Request, actor: CrmUser | None) -> AgentEvent:
    with _locale():
        items = "; ".join(item.describe() for item in request.items)
        if items:
            message = _(
                "%(customer)s: %(items)s. Added by %(who)s.",
                customer=request.organization.name,
                items=items,
                who=_name(actor),
            )
        else:  # no equipment yet: no empty subject after the colon
            message = _("%(customer)s. Added by %(who)s.", customer=request.organization.name, who=_name(actor))
        return _request_event(
            request, EventKind.REQUEST_CREATED, actor, _("New request %(number)s", number=request.number), message
        )


def status_changed(request: Request, old_label: str, new_label: str, comment: str, actor: CrmUser | None) -> AgentEvent:
    with _locale():
        title = _("Request %(number)s: %(status)s", number=request.number, status=new_label)
    return _change_event(request, EventKind.REQUEST_STATUS, title, old_label, new_label, comment, actor)


def delivery_changed(
    request: Request, old_label: str, new_label: str, comment: str, actor: CrmUser | None
) -> AgentEvent:
    with _locale():
        title = _("Delivery %(number)s: %(status)s", number=request.number, status=new_label)
    return _change_event(request, EventKind.DELIVERY_STATUS, title, old_label, new_label, comment, actor)


def _change_event(
    request: Request, kind: EventKind, title: str, old: str, new: str, comment: str, actor: CrmUser | None
) -> AgentEvent:
    with _locale():
        message = _(
            "%(customer)s: %(old)s → %(new)s. %(who)s: %(comment)s",
            customer=request.organization.name,
            old=old,
            new=new,
            who=_name(actor),
            comment=comment,
        )
    return _request_event(request, kind, actor, title, message)


def comment_added(request: Request, text: str, actor: CrmUser | None) -> AgentEvent:
    with _locale():
        return _request_event(
            request,
            EventKind.REQUEST_COMMENT,
            actor,
            _("Comment on request %(number)s", number=request.number),
            _("%(customer)s. %(who)s: %(text)s", customer=request.organization.name, who=_name(actor), text=text),
        )


def document_added(request: Request, file_name: str, actor: CrmUser | None) -> AgentEvent:
    with _locale():
        return _request_event(
            request,
            EventKind.REQUEST_COMMENT,
            actor,
            _("Document for request %(number)s", number=request.number),
            _(
                "%(customer)s. %(who)s attached «%(name)s».",
                customer=request.organization.name,
                who=_name(actor),
                name=file_name,
            ),
        )


def reminder_due(reminder: Reminder) -> AgentEvent:
    with _locale():
        about = reminder.subject
        message = reminder.text if about is None else f"{reminder.text} ({about})"
        return AgentEvent(
            kind=EventKind.REMINDER,
            reminder_id=reminder.id,
            request_id=reminder.request_id,
            recipient_id=reminder.owner_id,
            title=_("Reminder"),
            message=_short(message),
        )


def subject_path(request_id: int | None, organization_id: int | None = None) -> str:
    """Where an event or reminder leads in the web UI: its request, its client, or the reminders."""
    if request_id:
        return f"/requestview/show/{request_id}"
    if organization_id:
        return f"/organizationview/show/{organization_id}"
    return "/reminders/"
