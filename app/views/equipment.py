"""The equipment editor of the request form: rows of type / name / sub-name / capacity / qty."""

from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import FieldList, Form, FormField, IntegerField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from app.validation import ITEM_RULES, form_validator


class EquipmentItemForm(Form):
    # Not required here: a blank row is skipped; validate_equipment_type asks for the type when the
    # row has anything else.
    equipment_type = StringField(_l("Equipment type"), [form_validator(*ITEM_RULES["equipment_type"][1:])])
    name = StringField(_l("Name"), [form_validator(*ITEM_RULES["name"])])
    subname = StringField(_l("Sub-name"), [form_validator(*ITEM_RULES["subname"])])
    capacity = StringField(_l("Capacity"), [form_validator(*ITEM_RULES["capacity"])])
    quantity = IntegerField(
        _l("Quantity"), [Optional(), NumberRange(min=1, max=1_000_000, message=_l("From 1 to 1,000,000."))], default=1
    )

    def validate_equipment_type(self, field) -> None:
        others = (self.name.data, self.subname.data, self.capacity.data)
        if not (field.data or "").strip() and any((value or "").strip() for value in others):
            raise ValidationError(_l("Give the equipment type."))


class EquipmentEditorWidget:
    """Renders the rows as a table with suggestions; a template row lets the page add more."""

    def __call__(self, field: FieldList, **kwargs) -> Markup:
        options = {
            "name": f"{field.name}-__index__",
            "id": f"{field.id}-__index__",
            "_meta": field.meta,
            "translations": field._translations,
        }
        template_row = field.meta.bind_field(field._form, field.unbound_field, options)
        template_row.process(None)
        return Markup(render_template("crm/equipment_editor.html", field=field, template_row=template_row))


class EquipmentField(FieldList):
    widget = EquipmentEditorWidget()

    def __init__(self, label=None, **kwargs) -> None:
        super().__init__(FormField(EquipmentItemForm), label, min_entries=1, **kwargs)

    def validate(self, form, extra_validators=()) -> bool:
        valid = super().validate(form, extra_validators)
        # Row errors are shown beside their inputs; FAB's field template expects only strings here.
        self.errors = [error for error in self.errors if isinstance(error, str)]
        return valid

    def pre_validate(self, form) -> None:
        if not any((entry.form.equipment_type.data or "").strip() for entry in self.entries):
            raise ValidationError(_l("Add at least one equipment item."))
