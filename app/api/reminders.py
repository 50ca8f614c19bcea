"""REST resource /api/v1/reminder/: the caller's reminders (everyone's for the administrator)."""

from __future__ import annotations

from flask import g
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from sqlalchemy import inspect
from werkzeug.exceptions import BadRequest

from app import access
from app.api.base import CrmModelRestApi
from app.api.write_rules import WriteRulesMixin
from app.domain import reminders as reminder_domain
from app.jobs.reminders import schedule_reminder
from app.models.reminders import Reminder
from app.validation import REMINDER_RULES, api_validators, parse_due_time


class ReminderApi(WriteRulesMixin, CrmModelRestApi):
    resource_name = "reminder"
    datamodel = SQLAInterface(Reminder)
    base_filters = access.REMINDER_BASE_FILTERS
    allow_browser_login = True
    list_columns = [
        "id",
        "text",
        "due_at",
        "delivery",
        "attempts",
        "last_error",
        "sent_at",
        "done_at",
        "organization.id",
        "organization.name",
        "request.id",
        "request.number",
        "owner.id",
        "owner.username",
    ]
    show_columns = list_columns
    add_columns = ["text", "due_at", "organization", "request"]
    edit_columns = ["text", "due_at", "done_at"]
    order_columns = ["due_at", "id"]
    base_order = ("due_at", "asc")
    search_columns = ["due_at", "delivery", "done_at", "organization", "request"]
    validators_columns = api_validators(REMINDER_RULES)
    input_parsers = {"due_at": parse_due_time}
    add_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "request": access.REQUEST_BASE_FILTERS,
    }

    def pre_add(self, item: Reminder) -> None:
        if item.request is not None and not access.find_visible_request(item.request.id):
            raise BadRequest("request")
        if item.organization is not None and not access.can_see_organization(item.organization.id):
            raise BadRequest("organization")
        item.owner = g.user
        if item.due_at is not None and reminder_domain.is_in_the_past(item.due_at):
            raise BadRequest(_("This time has already passed: choose a time in the future."))
        reminder_domain.move(item, item.due_at)
        if item.request is not None:
            item.organization = None

    def pre_update(self, item: Reminder) -> None:
        if inspect(item).attrs.due_at.history.has_changes():
            if reminder_domain.is_in_the_past(item.due_at):
                raise BadRequest(_("This time has already passed: choose a time in the future."))
            done_at = item.done_at
            reminder_domain.move(item, item.due_at)  # a new time means a new e-mail
            item.done_at = done_at

    def post_add(self, item: Reminder) -> None:
        schedule_reminder(item)

    def post_update(self, item: Reminder) -> None:
        schedule_reminder(item)
