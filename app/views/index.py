"""The start page: where a manager lands after login."""

from __future__ import annotations

from flask_appbuilder import IndexView


class CrmIndexView(IndexView):
    index_template = "crm/index.html"
