"""«Сегодня», the start page: where a manager lands after login (app/domain/dashboard.py computes it)."""

from __future__ import annotations

from flask import request
from flask_appbuilder import IndexView, expose
from flask_babel import gettext as _
from sqlalchemy import select

from app import access
from app.domain import agent_devices, dashboard
from app.extensions import db
from app.models.users import CrmUser
from app.views.reminders import PRESET_LABELS


class CrmIndexView(IndexView):
    index_template = "crm/index.html"

    @expose("/")
    def index(self):
        user = access.current_user()
        if user is None:
            return self.render_template(self.index_template, appbuilder=self.appbuilder)
        subject: CrmUser | None = user
        managers: list[CrmUser] = []
        if access.is_administrator(user):
            # The administrator sees the department, or the day of the manager he chooses.
            managers = list(db.session.scalars(select(CrmUser).where(CrmUser.active.is_(True)).order_by(CrmUser.id)))
            chosen = request.args.get("manager", type=int)
            subject = next((m for m in managers if m.id == chosen), None)
        if subject is None or subject.id == user.id:
            since = dashboard.record_visit(db.session, user)
        else:
            since = dashboard.previous_visit(db.session, subject)
        today = dashboard.compute(db.session, user, subject, since)
        # Issue 16: his own day tells a manager with no working Agent where to get one (one query).
        own_day = subject is not None and subject.id == user.id
        return self.render_template(
            "crm/today.html",
            title=_("Today"),
            today=today,
            managers=managers,
            presets=PRESET_LABELS,
            show_owner=subject is None or subject.id != user.id,
            agent_hint=own_day and not agent_devices.has_connected_agent(user),
            appbuilder=self.appbuilder,
        )
