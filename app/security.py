"""The security manager: FAB's, wired through FAB_SECURITY_MANAGER_CLASS for the project's needs."""

from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager


class CrmSecurityManager(SecurityManager):
    """Users, roles and logins; record-level access is app/access.py's decision."""
