"""The manager's Agent settings page: which pop-ups he wants, and how to install the Agent."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.domain import agent_feed
from app.extensions import db
from app.models.events import KIND_LABELS, EventKind


class AgentSettingsView(BaseView):
    route_base = "/agent-settings"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        settings = agent_feed.settings_for(db.session, g.user)
        if request.method == "POST":
            for kind in EventKind:
                setattr(settings, kind.value, request.form.get(kind.value) == "on")
            seconds = request.form.get("poll_seconds", type=int)
            if seconds is None or not 5 <= seconds <= 3600:
                flash(_("The interval must be between 5 and 3600 seconds."), "danger")
                db.session.rollback()
            else:
                settings.poll_seconds = seconds
                db.session.commit()
                flash(_("Settings saved. The Agent applies them at its next check."), "success")
                return redirect(url_for(".index"))
        db.session.commit()
        return self.render_template(
            "crm/agent_settings.html", title=_("Agent notifications"), settings=settings, labels=KIND_LABELS
        )
