"""How the radar shows on a row or a card: days without activity, stalled, a next step due."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from markupsafe import Markup, escape

from app.domain import activity
from app.models.requests import Request


def activity_badge(request: Request) -> Markup:
    """«N дн.», red «Застой» once the request is stalled; nothing for a closed request."""
    if request.status not in activity.OPEN_STATUSES:
        return Markup("")
    days = activity.days_quiet(request)
    text = escape(_("%(days)d d.", days=days or 0))
    if activity.is_stalled(request):
        return Markup(f'<span class="label label-danger crm-stalled">{escape(_("No activity"))}</span> {text}')
    return Markup(f'<span class="text-muted">{text}</span>')


def next_step_badge(value: date | None) -> Markup:
    """The next step's date, marked when its day has come."""
    if value is None:
        return Markup("")
    shown = escape(value.strftime("%d.%m.%Y"))
    if value <= activity.today_for_user():
        return Markup(f'<span class="label label-warning crm-next-step-due">{shown}</span>')
    return Markup(f"<span>{shown}</span>")
