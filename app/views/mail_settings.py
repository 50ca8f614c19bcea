"""«Почта» (administrator): the mail settings reminders use, and a test e-mail with the server's answer."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.jobs.mail import failure_reason, mail_configured, send_test_email
from app.urls import public_url


def shown_settings() -> list[tuple[str, object]]:
    """The MAIL_* settings as the admin should see them: never the password itself."""
    config = current_app.config
    return [
        ("MAIL_SERVER", config.get("MAIL_SERVER") or "—"),
        ("MAIL_PORT", config.get("MAIL_PORT")),
        ("MAIL_USE_TLS", "true" if config.get("MAIL_USE_TLS") else "false"),
        ("MAIL_USE_SSL", "true" if config.get("MAIL_USE_SSL") else "false"),
        ("MAIL_USERNAME", config.get("MAIL_USERNAME") or "—"),
        ("MAIL_PASSWORD", _("password set (not shown)") if config.get("MAIL_PASSWORD") else _("no password")),
        ("MAIL_DEFAULT_SENDER", config.get("MAIL_DEFAULT_SENDER")),
        ("PUBLIC_URL", public_url()),
    ]


class MailSettingsView(BaseView):
    route_base = "/mail-settings"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template(
            "crm/mail_settings.html",
            title=_("Mail"),
            settings=shown_settings(),
            configured=mail_configured(),
            recipient=request.args.get("to") or g.user.email or "",
        )

    @expose("/test", methods=["POST"])
    @has_access
    def test(self):
        recipient = (request.form.get("recipient") or "").strip()
        if not mail_configured():
            flash(_("Mail is not set up: set MAIL_SERVER and the other MAIL_* variables (see the README)."), "warning")
        elif "@" not in recipient or len(recipient) > 254 or any(c.isspace() for c in recipient):
            flash(_("Enter the e-mail address to send the test e-mail to."), "danger")
        else:
            sent, answer = send_test_email(recipient)
            if sent:
                flash(
                    _(
                        "The test e-mail to %(to)s was accepted. The server answered: %(answer)s",
                        to=recipient,
                        answer=answer,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "The test e-mail was not sent: %(reason)s. The server answered: %(answer)s",
                        reason=failure_reason(answer),
                        answer=answer,
                    ),
                    "danger",
                )
        return redirect(url_for(".index", to=recipient or None))
