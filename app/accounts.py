"""Creating the administrator and managers: shared by the CLI and the first start."""

from __future__ import annotations

import secrets

from flask import current_app
from flask_appbuilder.security.manager import BaseSecurityManager
from flask_appbuilder.security.sqla.models import User

from app.models.users import RecordScope
from app.passwords import check_password

MANAGER_ROLE = "Manager"


def sync_roles_and_permissions() -> None:
    """Create the built-in roles and every view's permissions; run after each upgrade."""
    appbuilder = current_app.appbuilder
    security = appbuilder.sm
    # The SQLA manager's create_db would also create tables; the schema belongs to migrations,
    # so only the role part (the base class's) runs here.
    BaseSecurityManager.create_db(security)
    appbuilder.add_permissions(update_perms=True)


def ensure_admin(password: str | None) -> tuple[User, str | None]:
    """The administrator `admin`; created with the given or a generated password if missing.

    Returns the user and the password when it was just set (None when the admin existed).
    """
    security = current_app.appbuilder.sm
    admin = security.find_user(username="admin")
    if admin is not None:
        return admin, None
    password = password or secrets.token_urlsafe(12)
    admin = security.add_user(
        username="admin",
        first_name="Администратор",
        last_name="",
        email="admin@localhost",
        role=security.find_role(security.auth_role_admin),
        password=password,
    )
    if not admin:
        raise RuntimeError("could not create the administrator")
    return admin, password


def create_manager(
    username: str,
    password: str,
    email: str,
    first_name: str,
    last_name: str = "",
    record_scope: RecordScope = RecordScope.OWN,
) -> User:
    security = current_app.appbuilder.sm
    if security.find_user(username=username):
        raise ValueError(f"user {username!r} already exists")
    problem = check_password(password)
    if problem:
        raise ValueError(problem)
    user = security.add_user(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        role=security.find_role(MANAGER_ROLE),
        password=password,
    )
    if not user:
        raise RuntimeError(f"could not create user {username!r}")
    user.record_scope = record_scope
    security.session.commit()
    return user
