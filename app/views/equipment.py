"""The equipment editor of the request form: rows of type / name / sub-name / capacity / qty."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import Form, StringField
from wtforms.validators import Optional, ValidationError

from app.validation import ITEM_RULES, QuantityField, form_validator
from app.views.form_rows import RowsField, RowsWidget


class EquipmentItemForm(Form):
    # Not required here: a blank row is skipped; validate_equipment_type asks for the type when the
    # row has anything else.
    equipment_type = StringField(_l("Equipment type"), [form_validator(*ITEM_RULES["equipment_type"][1:])])
    name = StringField(_l("Name"), [form_validator(*ITEM_RULES["name"])])
    subname = StringField(_l("Sub-name"), [form_validator(*ITEM_RULES["subname"])])
    capacity = StringField(_l("Capacity"), [form_validator(*ITEM_RULES["capacity"])])
    # «1 000» as a Russian types it; the API's items take the same rule (parse_quantity).
    quantity = QuantityField(_l("Quantity"), [Optional()], default=1)

    def validate_equipment_type(self, field) -> None:
        others = (self.name.data, self.subname.data, self.capacity.data)
        if not (field.data or "").strip() and any((value or "").strip() for value in others):
            raise ValidationError(_l("Give the equipment type."))


class EquipmentField(RowsField):
    row_form = EquipmentItemForm
    widget = RowsWidget("crm/equipment_editor.html")

    def pre_validate(self, form) -> None:
        if not any((entry.form.equipment_type.data or "").strip() for entry in self.entries):
            raise ValidationError(_l("Add at least one equipment item."))
