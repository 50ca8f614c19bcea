"""The security manager: FAB's, with the CRM's user model and user administration screens."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext as _l
from wtforms import SelectField

from app.models.users import SCOPE_LABELS, CrmUser

TIMEZONE_CHOICES = [("", _l("Company default"))] + [(zone, zone) for zone in sorted(available_timezones())]


def _scope_field() -> SelectField:
    return SelectField(
        _l("Records he may see"),
        choices=[(scope.value, label) for scope, label in SCOPE_LABELS.items()],
        default="own",
        description=_l("Managers with «own» see only clients and requests where they are responsible."),
    )


class CrmUserDBModelView(UserDBModelView):
    """User administration (administrator only) with the record scope and time zone."""

    add_columns = [*UserDBModelView.add_columns, "record_scope", "timezone"]
    edit_columns = [*UserDBModelView.edit_columns, "record_scope", "timezone"]
    list_columns = ["first_name", "last_name", "username", "email", "active", "roles", "record_scope"]
    show_fieldsets = [
        *UserDBModelView.show_fieldsets[:1],
        (_l("Access"), {"fields": ["record_scope", "timezone"]}),
        *UserDBModelView.show_fieldsets[1:],
    ]
    user_show_fieldsets = [
        *UserDBModelView.user_show_fieldsets,
        (_l("Access"), {"fields": ["record_scope", "timezone"]}),
    ]
    label_columns = {
        **UserDBModelView.label_columns,
        "record_scope": _l("Records he may see"),
        "timezone": _l("Time zone"),
    }
    add_form_extra_fields = {
        **UserDBModelView.add_form_extra_fields,
        "record_scope": _scope_field(),
        "timezone": SelectField(_l("Time zone"), choices=TIMEZONE_CHOICES, default=""),
    }
    edit_form_extra_fields = {
        "record_scope": _scope_field(),
        "timezone": SelectField(_l("Time zone"), choices=TIMEZONE_CHOICES, default=""),
    }
    formatters_columns = {"record_scope": lambda scope: SCOPE_LABELS.get(scope, scope)}


class CrmSecurityManager(SecurityManager):
    """Users, roles and logins; which records a user sees is app/access.py's decision."""

    user_model = CrmUser
    userdbmodelview = CrmUserDBModelView
