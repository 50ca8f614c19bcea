"""«Мои напоминания»: setting, moving, closing and resending reminders in the web UI."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import DateTimeLocalField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, Optional

from app import access
from app.auth import safe_redirect_target
from app.domain import reminders as reminder_domain
from app.errors import is_id
from app.extensions import db
from app.formatting import person
from app.jobs.reminders import schedule_reminder
from app.models.reminders import Delivery, Reminder
from app.models.requests import Request
from app.models.stamps import utcnow
from app.models.users import CrmUser
from app.spreadsheets.columns import REMINDER_COLUMNS
from app.validation import NOTES, due_time_rule, form_validator
from app.views.export import export_response, requested_format

PRESET_LABELS = {
    "in_an_hour": _l("In an hour"),
    "tomorrow_morning": _l("Tomorrow 9:00"),
    "next_monday": _l("Next Monday 9:00"),
}


def _past_message() -> str:
    return _("This time has already passed: choose a time in the future.")


class ReminderForm(FlaskForm):
    text = TextAreaField(_l("What to do"), [DataRequired(), form_validator(NOTES)])
    due = DateTimeLocalField(_l("When"), [Optional()], format="%Y-%m-%dT%H:%M")
    preset = HiddenField()
    organization_id = HiddenField()
    request_id = HiddenField()


class MoveForm(FlaskForm):
    due = DateTimeLocalField(_l("When"), [Optional()], format="%Y-%m-%dT%H:%M")
    preset = HiddenField()


def _chosen_time(form: ReminderForm | MoveForm) -> datetime | None:
    """The UTC time the user chose, by a shortcut or in the picker (his own time zone)."""
    zone = reminder_domain.user_zone(g.user)
    choices = reminder_domain.quick_choices(utcnow(), zone)
    local = choices.get(form.preset.data or "") or form.due.data
    if not local:
        return None
    problem = due_time_rule(local)  # year 1 or 9999 would overflow the conversion to UTC
    due = None if problem else reminder_domain.local_to_utc(local, zone)
    problem = problem or due_time_rule(due)
    if problem:
        form.due.errors = [*form.due.errors, problem]
        return None
    return due


def _shown(moment: datetime) -> str:
    return moment.astimezone(reminder_domain.user_zone(g.user)).strftime("%d.%m.%Y %H:%M")


class RemindersView(BaseView):
    route_base = "/reminders"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        now = utcnow()
        everyone, owner, open_ones, done = _listed_reminders()
        today_ends = reminder_domain.end_of_today(owner or g.user, now)
        groups = {
            "failed": [r for r in open_ones if r.delivery == Delivery.FAILED],
            "overdue": [
                r for r in open_ones if r.delivery != Delivery.FAILED and reminder_domain.as_utc(r.due_at) <= now
            ],
            "today": [r for r in open_ones if now < reminder_domain.as_utc(r.due_at) < today_ends],
            "upcoming": [r for r in open_ones if reminder_domain.as_utc(r.due_at) >= today_ends],
            "done": done,
        }
        return self.render_template(
            "crm/reminders.html",
            title=_list_title(owner),
            groups=groups,
            everyone=everyone,
            owner=owner,
            show_owner=everyone,
            presets=PRESET_LABELS,
            move_form=MoveForm(),
            zone=reminder_domain.user_zone(owner or g.user),
            is_admin=access.is_administrator(g.user),
        )

    @expose("/export/")
    @has_access
    @permission_name("index")
    def export(self):
        """The page's reminders, open ones first, as a file (see app/views/export.py)."""
        _everyone, owner, open_ones, done = _listed_reminders()
        return export_response(_list_title(owner), REMINDER_COLUMNS, [*open_ones, *done], requested_format())

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        form = ReminderForm(request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.organization_id.data = request.args.get("organization", "")
            form.request_id.data = request.args.get("request", "")
        organization, client_request = self._subject(form)
        if request.method == "POST" and form.validate():
            due = _chosen_time(form)
            if due is None:
                if not form.due.errors:
                    form.due.errors.append(_("Choose when to remind you."))
            elif reminder_domain.is_in_the_past(due):
                form.due.errors.append(_past_message())
            else:
                reminder = reminder_domain.create_reminder(
                    db.session, g.user, form.text.data, due, organization=organization, request=client_request
                )
                db.session.commit()
                schedule_reminder(reminder)
                zone = reminder_domain.user_zone(g.user)
                flash(_("Reminder set for %(when)s.", when=due.astimezone(zone).strftime("%d.%m.%Y %H:%M")), "success")
                return redirect(safe_redirect_target(request.args.get("next"), url_for(".index")))
        if not form.due.data and request.method == "GET":
            form.due.data = reminder_domain.quick_choices(utcnow(), reminder_domain.user_zone(g.user))["in_an_hour"]
        return self.render_template(
            "crm/reminder_form.html",
            title=_("New reminder"),
            form=form,
            organization=organization,
            client_request=client_request,
            presets=PRESET_LABELS,
            zone=reminder_domain.user_zone(g.user),
        )

    @staticmethod
    def _subject(form: ReminderForm):
        """The client or request the reminder is about; only one the user may see."""
        request_id, organization_id = form.request_id.data, form.organization_id.data
        if request_id:
            if not is_id(str(request_id)):  # «１» or 2**70 is no record (and 2**70 is no SQLite integer)
                abort(404)
            return None, access.get_request_or_404(int(request_id))
        if organization_id:
            if not is_id(str(organization_id)):
                abort(404)
            return access.get_organization_or_404(int(organization_id)), None
        return None, None

    @expose("/<int:pk>/done", methods=["POST"])
    @has_access
    def done(self, pk: int):
        reminder = access.get_reminder_or_404(pk)
        reminder_domain.mark_done(reminder)
        db.session.commit()
        flash(_("Marked as done."), "success")
        return redirect(safe_redirect_target(request.referrer, url_for(".index")))

    @expose("/<int:pk>/move", methods=["POST"])
    @has_access
    def move(self, pk: int):
        reminder = access.get_reminder_or_404(pk)
        form = MoveForm()
        due = _chosen_time(form) if form.validate() else None
        if due is None:
            flash(_("Choose when to remind you."), "danger")
        elif reminder_domain.is_in_the_past(due):
            flash(_past_message(), "danger")
        else:
            reminder_domain.move(reminder, due)
            db.session.commit()
            schedule_reminder(reminder)
            flash(_("Reminder moved to %(when)s.", when=_shown(due)), "success")
        return redirect(request.referrer or url_for(".index"))  # the start page snoozes in place

    @expose("/<int:pk>/resend", methods=["POST"])
    @has_access
    def resend(self, pk: int):
        reminder = access.get_reminder_or_404(pk)
        if not reminder_domain.resend(reminder):
            db.session.rollback()
            flash(_("Nothing was sent: %(state)s.", state=delivery_state(reminder)), "warning")
            return redirect(url_for(".index"))
        db.session.commit()
        schedule_reminder(reminder)
        flash(_("The e-mail will be sent again."), "success")
        return redirect(url_for(".index"))


def delivery_state(reminder: Reminder) -> str:
    """Where a reminder stands, in words, for the resend refusal."""
    if reminder.done_at is not None:
        return _("the reminder is already marked as done")
    if reminder.delivery == Delivery.SENT:
        return _("the e-mail was already sent %(when)s", when=_shown(reminder_domain.as_utc(reminder.sent_at)))
    if reminder.delivery == Delivery.NO_EMAIL:
        return _("the reminder was already shown in the Agent and in «My reminders» (no mail server is set up)")
    if reminder.delivery == Delivery.SENDING:
        return _("the e-mail is being sent right now")
    if reminder.attempts:
        return _(
            "the e-mail will be tried again at %(when)s", when=_shown(reminder_domain.as_utc(reminder.next_attempt_at))
        )
    return _("the reminder is waiting for its time, %(when)s", when=_shown(reminder_domain.as_utc(reminder.due_at)))


def _listed_reminders() -> tuple[bool, CrmUser | None, list[Reminder], list[Reminder]]:
    """What the page lists: open reminders by time and the last 50 done, his own or, for the
    administrator, everyone's (`everyone=1`) or one manager's (`owner=<id>`, the start page's
    «Все напоминания» when he looks at that manager's day)."""
    administrator = access.is_administrator(g.user)
    everyone = administrator and request.args.get("everyone") == "1"
    owner = None
    if administrator and request.args.get("owner") and not everyone:
        if not is_id(request.args["owner"]):
            abort(404)
        owner = db.session.get(CrmUser, int(request.args["owner"])) or abort(404)
    whose = (
        access.visible_reminders() if everyone else select(Reminder).where(Reminder.owner_id == (owner or g.user).id)
    )
    # What each row shows, loaded with the rows rather than one query per reminder.
    query = whose.options(
        selectinload(Reminder.request).selectinload(Request.organization),
        selectinload(Reminder.organization),
        selectinload(Reminder.owner),
    )
    open_ones = db.session.scalars(query.where(Reminder.done_at.is_(None)).order_by(Reminder.due_at)).all()
    done = db.session.scalars(
        query.where(Reminder.done_at.is_not(None)).order_by(Reminder.done_at.desc()).limit(50)
    ).all()
    return everyone, owner, list(open_ones), list(done)


def _list_title(owner: CrmUser | None) -> str:
    return _("Reminders: %(name)s", name=person(owner)) if owner is not None else _("My reminders")


def reminders_due_today() -> int:
    """The number on the «Мои напоминания» signal: open reminders due today, overdue included."""
    user = access.current_user()
    if user is None:
        return 0
    return reminder_domain.open_reminders_until(db.session, user, reminder_domain.end_of_today(user))


def register_template_globals(app) -> None:
    from app.jobs.mail import failure_reason, mail_configured
    from app.urls import public_url

    app.add_template_global(reminders_due_today)
    app.add_template_global(public_url)
    app.add_template_global(mail_configured)
    app.add_template_global(failure_reason, "reminder_failure_reason")
