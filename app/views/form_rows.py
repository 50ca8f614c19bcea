"""A form field of repeated rows (equipment items, a new organisation's contacts) shown as a table;
a template row lets the page add more."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup
from wtforms import FieldList, Form, FormField


class RowsWidget:
    """Renders the rows with the given template, plus an empty template row for the page's script."""

    def __init__(self, template: str) -> None:
        self.template = template

    def __call__(self, field: FieldList, **kwargs) -> Markup:
        options = {
            "name": f"{field.name}-__index__",
            "id": f"{field.id}-__index__",
            "_meta": field.meta,
            "translations": field._translations,
        }
        template_row = field.meta.bind_field(field._form, field.unbound_field, options)
        template_row.process(None)
        return Markup(render_template(self.template, field=field, template_row=template_row))


class RowsField(FieldList):
    """At least one row of `row_form`; subclasses name the form and the widget."""

    row_form: type[Form]

    def __init__(self, label=None, **kwargs) -> None:
        super().__init__(FormField(self.row_form), label, min_entries=1, **kwargs)

    def validate(self, form, extra_validators=()) -> bool:
        valid = super().validate(form, extra_validators)
        # Row errors are shown beside their inputs; FAB's field template expects only strings here.
        self.errors = [error for error in self.errors if isinstance(error, str)]
        return valid
