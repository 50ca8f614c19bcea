"""The «Агент» page: what the Agent does, its notification switches, the download, the connected devices."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from agent import __version__ as AGENT_VERSION
from agent.build import WINDOWS_NAME, with_server
from app import access, urls
from app.domain import agent_devices, agent_feed
from app.extensions import db
from app.models.events import KIND_LABELS, EventKind
from config import INSTANCE_DIR


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
            "crm/agent_settings.html",
            title=_("Agent"),
            settings=settings,
            labels=KIND_LABELS,
            devices=agent_devices.visible_devices(db.session, g.user),
            sees_everyone=access.agent_device_clause(g.user) is None,
            agent_version=AGENT_VERSION,
            server=urls.public_url(),
        )

    @expose("/download", methods=["GET"])
    @has_access
    def download(self):
        """The Agent as one file, with this CRM's address written in (logged-in users only).

        ``?system=windows`` gives the same file named .pyzw, which Windows opens without a console window.
        """
        path = agent_devices.ensure_built(agent_devices.download_path(INSTANCE_DIR))
        body = with_server(path, urls.public_url())
        name = WINDOWS_NAME if request.args.get("system") == "windows" else agent_devices.DOWNLOAD_NAME
        response = Response(body, mimetype="application/octet-stream")
        response.headers["Content-Disposition"] = f"attachment; filename={name}"
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/devices/<int:device_id>/disconnect", methods=["POST"])
    @has_access
    def disconnect(self, device_id: int):
        """«Отключить»: the device's next call is refused; another manager's device answers 404."""
        device = agent_devices.disconnect(db.session, g.user, device_id)
        if device is None:
            db.session.rollback()
            abort(404)
        db.session.commit()
        flash(_("The Agent on «%(name)s» is disconnected.", name=device.name), "success")
        return redirect(url_for(".index"))
