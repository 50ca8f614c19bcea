"""The security manager: FAB's, with the CRM's user model, user administration screens and login hardening."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from flask import abort, current_app, has_request_context, request, session
from flask_appbuilder import expose
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import Select2ManyWidget, Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.sqla.apis import UserApi as FabUserApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import Permission, PermissionView, ViewMenu, assoc_permissionview_role
from flask_appbuilder.security.views import RoleModelView, UserDBModelView
from flask_appbuilder.widgets import ListWidget
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, user_logged_in, user_logged_out
from limits.storage import storage_from_string
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import SelectField
from wtforms.validators import DataRequired

from app import access, auth
from app.api.write_rules import WriteRulesMixin
from app.domain import deletion
from app.extensions import db
from app.models.users import SCOPE_LABELS, CrmUser

# FAB messages we translate ourselves (FAB's own Russian for this one has a typo); listed here so
# that message extraction keeps them in our catalogue.
FAB_MESSAGES_RETRANSLATED = [_l("Invalid login. Please try again.")]

TIMEZONE_CHOICES = [("", _l("Company default"))] + [(zone, zone) for zone in sorted(available_timezones())]


def _scope_field() -> SelectField:
    return SelectField(
        _l("Records he may see"),
        choices=[(scope.value, label) for scope, label in SCOPE_LABELS.items()],
        default="own",
        render_kw={"class": "form-control"},
        description=_l("Managers with «own» see only clients and requests where they are responsible."),
    )


# Role names are data ("Admin", "Manager"); the screens show them in the user's language.
ROLE_LABELS = {"Admin": _l("Administrator"), "Manager": _l("Manager"), "Public": _l("Guest")}


def role_label(role: Any) -> str:
    name = getattr(role, "name", role)
    return str(ROLE_LABELS.get(name, name))


def _roles_field() -> QuerySelectMultipleField:
    """Roles a user can be given: the product's two, by their Russian names (no "Public")."""

    def roles():
        sm = current_app.appbuilder.sm
        return sm.session.query(sm.role_model).filter(sm.role_model.name != sm.auth_role_public)

    return QuerySelectMultipleField(
        _l("Role"),
        query_func=roles,
        get_pk_func=lambda role: role.id,
        get_label=role_label,
        widget=Select2ManyWidget(),
        validators=[DataRequired()],
        description=_l("The user's role: what he may do in the application."),
    )


def _without_groups(columns: list[str]) -> list[str]:
    """The product gives rights by role only: FAB's user groups are not offered."""
    return [column for column in columns if column != "groups"]


class KnownActionsOnly:
    """FAB's user and role screens raise (500) on an action name they do not have: 404 instead."""

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        if request.form.get("action", "") not in self.actions:
            abort(404)
        return super().action_post()


class CrmUserDBModelView(KnownActionsOnly, UserDBModelView):
    """User administration (administrator only) with the record scope and time zone."""

    add_columns = [*_without_groups(UserDBModelView.add_columns), "record_scope", "timezone"]
    edit_columns = [*_without_groups(UserDBModelView.edit_columns), "record_scope", "timezone"]
    validators_columns = {}
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
        "roles": _roles_field(),
        "record_scope": _scope_field(),
        "timezone": SelectField(_l("Time zone"), choices=TIMEZONE_CHOICES, default="", widget=Select2Widget()),
    }
    edit_form_extra_fields = {
        "roles": _roles_field(),
        "record_scope": _scope_field(),
        "timezone": SelectField(_l("Time zone"), choices=TIMEZONE_CHOICES, default="", widget=Select2Widget()),
    }
    formatters_columns = {
        "record_scope": lambda scope: SCOPE_LABELS.get(scope, scope),
        "roles": lambda roles: ", ".join(role_label(role) for role in roles or []),
        "active": lambda active: _l("Yes") if active else _l("No"),
    }

    def pre_delete(self, item: CrmUser) -> None:
        """A user with history stays (FAB flashes the reason): deactivating him keeps who did what."""
        deletion.check_user_deletion(db.session, item.id)


class NotPublicRole(BaseFilter):
    """Leaves out the role FAB keeps for anonymous visitors: the product has none."""

    name = "not public"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(self.model.name != current_app.appbuilder.sm.auth_role_public)


class CrmRoleModelView(KnownActionsOnly, RoleModelView):
    """The product's roles by their Russian names; the unused "Public" role and the raw permission
    dump stay out of the list."""

    list_widget = ListWidget  # FAB's roles widget prints the raw permission list
    list_columns = ["name"]
    formatters_columns = {"name": role_label}
    base_filters = [["name", NotPublicRole, None]]


class UserApi(WriteRulesMixin, FabUserApi):
    """FAB's security users API whose DELETE refuses a user with history (409 with the reason).

    Named like FAB's class so endpoints and permission names stay the same.
    """

    def pre_delete(self, item: CrmUser) -> None:
        deletion.check_user_deletion(db.session, item.id)


class CrmSecurityManager(SecurityManager):
    """Users, roles and logins; which records a user sees is app/access.py's decision."""

    user_model = CrmUser
    userdbmodelview = CrmUserDBModelView
    rolemodelview = CrmRoleModelView
    authdbview = auth.AuthDBView
    user_api = UserApi
    security_api = auth.SecurityApi

    def __init__(self, appbuilder: Any) -> None:
        config = current_app.config
        # Before FAB creates its flask-limiter: counts in Redis hold across gunicorn workers.
        if not config.get("RATELIMIT_STORAGE_URI"):
            config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]
        config.setdefault("LOGIN_RATE_LIMIT", "10 per 5 minutes")
        super().__init__(appbuilder)
        app = current_app._get_current_object()
        # FAB's own limiter stays off (RATELIMIT_ENABLED defaults to False and AUTH_RATE_LIMITED would count
        # successful logins per IP too); the login counter has its own connection to the same storage.
        uri = config["RATELIMIT_STORAGE_URI"]
        # A hung Redis must not hang the login page: short timeouts, then LoginThrottle counts locally.
        timeouts = {"socket_connect_timeout": 2, "socket_timeout": 2} if uri.startswith(("redis", "rediss")) else {}
        storage = storage_from_string(uri, **{**timeouts, **config.get("RATELIMIT_STORAGE_OPTIONS", {})})
        self.login_throttle = auth.LoginThrottle(config["LOGIN_RATE_LIMIT"], storage)
        app.extensions["crm_login_throttle"] = self.login_throttle
        user_logged_in.connect(auth.start_session, app, weak=False)
        user_logged_out.connect(auth.end_session, app, weak=False)
        app.after_request(auth.secure_every_response)
        self.jwt_manager.additional_claims_loader(self._account_claims)
        self.jwt_manager.token_in_blocklist_loader(self._token_revoked)

    def register_views(self) -> None:
        """FAB's security screens, without the user groups the product does not use."""
        super().register_views()
        security = self.appbuilder.menu.find("Security")
        if security is not None:
            security.childs = [item for item in security.childs if item.name != "List Groups"]

    def create_login_manager(self, app: Any) -> LoginManager:
        login_manager = super().create_login_manager(app)
        login_manager.user_loader(self._load_session_user)
        return login_manager

    def _load_session_user(self, pk: str) -> CrmUser | None:
        """flask-login's loader: a session issued before a password change or deactivation is void."""
        user = self.get_user_by_id(int(pk))
        if not has_request_context():
            return user if user and user.is_active else None
        # FAB alone only ignores a disabled account's session (it would resume on re-activation): drop it.
        fingerprint = session.get(auth.SESSION_FINGERPRINT_KEY)
        if user is None or not user.is_active or not auth.fingerprint_matches(fingerprint, user):
            auth.drop_stale_session()
            return None
        if auth.session_revoked(session.get(auth.SESSION_ID_KEY)):  # a cookie copied before a logout
            auth.drop_stale_session(explain=False)
            return None
        return user

    def _account_claims(self, identity: Any) -> dict[str, str]:
        """Every JWT FAB issues (login, refresh) carries the account fingerprint."""
        user = self._user_by_identity(identity)
        return {auth.JWT_FINGERPRINT_CLAIM: auth.account_fingerprint(user)} if user else {}

    def _token_revoked(self, _jwt_header: dict, jwt_payload: dict) -> bool:
        """A JWT whose fingerprint no longer matches its account is revoked (401)."""
        user = self._user_by_identity(jwt_payload.get("sub"))
        return user is None or not auth.fingerprint_matches(jwt_payload.get(auth.JWT_FINGERPRINT_CLAIM), user)

    def get_user_by_id(self, pk: Any) -> CrmUser | None:
        """With his roles and groups in the same query: every page asks for them right after."""
        return self.session.get(
            self.user_model, pk, options=[joinedload(self.user_model.roles), joinedload(self.user_model.groups)]
        )

    def _has_view_access(self, user: Any, permission_name: str, view_name: str) -> bool:
        """FAB's check, with a database role's permissions read once per request: FAB asks the
        database once per menu entry and button (some twenty queries for an administrator's page)."""
        if permission_name == "menu_access" and not access.shows_menu_entry(user, view_name):
            return False
        roles = self.get_user_roles(user)
        if any(
            role.name in self.builtin_roles and self._has_access_builtin_roles(role, permission_name, view_name)
            for role in roles
        ):
            return True
        role_ids = tuple(sorted(role.id for role in roles if role.name not in self.builtin_roles))
        return bool(role_ids) and (permission_name, view_name) in self._db_role_permissions(role_ids)

    def _db_role_permissions(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        """(permission, view) pairs of these database roles; kept for one request only, so a role the
        administrator changes applies from the next request."""
        cache = request.environ.setdefault("crm.role_permissions", {}) if has_request_context() else {}
        if role_ids not in cache:
            rows = self.session.execute(
                select(Permission.name, ViewMenu.name)
                .join(PermissionView, PermissionView.permission_id == Permission.id)
                .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
                .join(assoc_permissionview_role, assoc_permissionview_role.c.permission_view_id == PermissionView.id)
                .where(assoc_permissionview_role.c.role_id.in_(role_ids))
            )
            cache[role_ids] = frozenset(tuple(row) for row in rows)
        return cache[role_ids]

    def _user_by_identity(self, identity: Any) -> CrmUser | None:
        try:
            return self.get_user_by_id(int(identity))
        except (TypeError, ValueError):
            return None

    def auth_user_db(self, username: str, password: str) -> CrmUser | None:
        """Count failures per IP and name; refuse without checking while the limit is reached.

        The views answer 429 before coming here; this guard holds for any other caller.
        """
        if not has_request_context():
            return super().auth_user_db(username, password)
        ip = request.remote_addr
        if self.login_throttle.retry_after(ip, username):
            return None
        user = super().auth_user_db(username, password)
        if user is None:
            self.login_throttle.failed(ip, username)
        else:
            self.login_throttle.succeeded(ip, username)
        return user

    def reset_password(self, userid: Any, password: str) -> None:
        """The session that changed its own password stays signed in; every other one ends."""
        super().reset_password(userid, password)
        if has_request_context() and current_user.is_authenticated and str(current_user.id) == str(userid):
            session[auth.SESSION_FINGERPRINT_KEY] = auth.account_fingerprint(self.get_user_by_id(int(userid)))
