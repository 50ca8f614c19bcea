"""«Радар застоя» (administrator): after how many quiet days a request is stalled, and whether its
responsible then gets one reminder. Stored by app/domain/department_settings.py; every list, the
board, the start page and the radar job follow the change at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import access
from app.domain import department_settings
from app.extensions import db
from app.models.users import CrmUser


def _days_refusal(text: str) -> str | None:
    """Why the typed number of days cannot be used, or None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= department_settings.MAX_STALLED_DAYS:
        return _("Enter a whole number of days from 1 to %(most)d.", most=department_settings.MAX_STALLED_DAYS)
    return None


class RadarSettingsView(BaseView):
    route_base = "/radar-settings"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        access.administrator_or_404()
        settings = department_settings.radar_settings()
        typed, error = str(settings.stalled_after_days), None
        if request.method == "POST":
            typed = request.form.get("stalled_after_days", "")[:20]
            reminders = request.form.get("reminders") == "y"
            error = _days_refusal(typed)
            if error is None:
                department_settings.save_radar_settings(db.session, g.user, int(typed.strip()), reminders)
                flash(_("Saved: the lists, the board and the start page follow the new settings now."), "success")
                return redirect(url_for("RadarSettingsView.index"))
            settings = replace(settings, reminders=reminders)  # the box as he left it, unsaved
        changed_by = db.session.get(CrmUser, settings.changed_by_id) if settings.changed_by_id else None
        return self.render_template(
            "crm/radar_settings.html",
            title=_("Stalled radar"),
            settings=settings,
            typed=typed,
            error=error,
            changed_on=datetime.fromisoformat(settings.changed_on) if settings.changed_on else None,
            changed_by=changed_by,
            most=department_settings.MAX_STALLED_DAYS,
        )
