"""Reference data the administrator keeps tidy: the equipment catalogue and document categories."""

from __future__ import annotations

from flask import flash, redirect
from flask_appbuilder import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Length, Optional

from app.extensions import db
from app.models.catalogue import CatalogueEntry
from app.models.requests import DocumentCategory
from app.views.base import CrmModelView


class CatalogueEntryView(CrmModelView):
    """Fix a typo by editing an entry; merge duplicates by selecting them (the first one stays)."""

    datamodel = SQLAInterface(CatalogueEntry)
    list_title = _l("Equipment catalogue")
    edit_title = _l("Edit catalogue entry")
    add_title = _l("New catalogue entry")
    show_title = _l("Catalogue entry")
    label_columns = {
        "equipment_type": _l("Equipment type"),
        "name": _l("Name"),
        "subname": _l("Sub-name"),
        "capacity": _l("Capacity"),
        "times_used": _l("Times used"),
    }
    list_columns = ["equipment_type", "name", "subname", "capacity", "times_used"]
    add_columns = ["equipment_type", "name", "subname", "capacity"]
    edit_columns = add_columns
    search_columns = add_columns
    base_order = ("equipment_type", "asc")
    # Only the type is required; the columns store "" for "none" so that uniqueness holds.
    add_form_extra_fields = {
        field: StringField(label, [Optional(), Length(max=255)], filters=[lambda value: value or ""])
        for field, label in [("name", _l("Name")), ("subname", _l("Sub-name")), ("capacity", _l("Capacity"))]
    }
    edit_form_extra_fields = add_form_extra_fields

    @action("merge", _l("Merge into the first selected"), _l("Merge the selected entries?"), "fa-compress")
    def merge(self, entries):
        entries = entries if isinstance(entries, list) else [entries]
        if len(entries) < 2:
            flash(_("Select at least two entries to merge."), "warning")
            return redirect(self.get_redirect())
        keeper, *duplicates = sorted(entries, key=lambda entry: entry.id)
        for duplicate in duplicates:
            keeper.times_used += duplicate.times_used
            db.session.delete(duplicate)
        db.session.commit()
        flash(_("Merged %(count)d entries into «%(entry)s».", count=len(duplicates), entry=keeper), "success")
        return redirect(self.get_redirect())


class DocumentCategoryView(CrmModelView):
    datamodel = SQLAInterface(DocumentCategory)
    list_title = _l("Document categories")
    add_title = _l("New document category")
    edit_title = _l("Edit document category")
    show_title = _l("Document category")
    label_columns = {"name": _l("Name"), "position": _l("Order in lists")}
    list_columns = ["name", "position"]
    add_columns = ["name", "position"]
    edit_columns = add_columns
    base_order = ("position", "asc")
