"""REST resource /api/v1/request/: requests with their items, status, delivery and comments."""

from __future__ import annotations

from collections.abc import Callable

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import BadRequest

from app import access
from app.api.base import CrmModelRestApi
from app.api.write_rules import WriteRulesMixin
from app.domain import requests as request_domain
from app.extensions import db
from app.models.requests import DeliveryStatus, Request, RequestStatus
from app.search import RequestQuickSearchFilter
from app.validation import (
    COMMENT_RULES,
    ITEM_RULES,
    REQUEST_RULES,
    api_parser_validator,
    api_validator,
    api_validators,
    parse_money,
    parse_quantity,
)

# marshmallow formats the message when it validates, so the lazy text speaks the caller's language.
CHOICE_ERROR = _l("Must be one of: {choices}.")

FINANCE_FIELDS = ["payment_terms", "contract_number", "invoice_number", "contract_price", "currency", "finance_comment"]
ITEM_COLUMNS = ["items.equipment_type", "items.name", "items.subname", "items.capacity", "items.quantity"]


class ItemSchema(Schema):
    equipment_type = fields.String(required=True, validate=api_validator(*ITEM_RULES["equipment_type"]))
    name = fields.String(load_default=None, validate=api_validator(*ITEM_RULES["name"]))
    subname = fields.String(load_default=None, validate=api_validator(*ITEM_RULES["subname"]))
    capacity = fields.String(load_default=None, validate=api_validator(*ITEM_RULES["capacity"]))
    # 1.5 is refused, not truncated to 1 (the form's rule: app/validation.py parse_quantity).
    quantity = fields.Raw(load_default=1, validate=api_parser_validator(parse_quantity))


class ItemsSchema(Schema):
    items = fields.List(fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1))


class ChangeSchema(Schema):
    comment = fields.String(required=True, validate=api_validator(*COMMENT_RULES))


class StatusChangeSchema(ChangeSchema):
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in RequestStatus], error=CHOICE_ERROR))


class DeliveryChangeSchema(ChangeSchema):
    delivery_status = fields.String(
        required=True, validate=validate.OneOf([s.value for s in DeliveryStatus], error=CHOICE_ERROR)
    )


class CommentSchema(Schema):
    text = fields.String(required=True, validate=api_validator(*COMMENT_RULES))


class RequestApi(WriteRulesMixin, CrmModelRestApi):
    resource_name = "request"
    datamodel = SQLAInterface(Request)
    base_filters = access.REQUEST_BASE_FILTERS
    allow_browser_login = True
    list_columns = [
        "id",
        "number",
        "request_date",
        "organization.id",
        "organization.name",
        "status",
        "delivery_status",
        "equipment_text",
        "contract_price",
        "currency",
        "responsible.id",
        "responsible.username",
        "next_step_on",
        "next_step_text",
        "last_activity_at",
    ]
    show_columns = [*list_columns, *FINANCE_FIELDS, *ITEM_COLUMNS, "created_on", "changed_on"]
    add_columns = ["organization", "request_date", "responsible", *FINANCE_FIELDS, "next_step_on", "next_step_text"]
    edit_columns = add_columns
    search_columns = [
        "number",
        "status",
        "delivery_status",
        "organization",
        "responsible",
        "equipment_text",
        "request_date",
        "next_step_on",
        "contract_price",
    ]
    search_filters = {"number": [RequestQuickSearchFilter]}
    order_columns = ["id", "number", "request_date", "status", "contract_price", "next_step_on", "last_activity_at"]
    base_order = ("id", "desc")
    validators_columns = api_validators(REQUEST_RULES)
    input_parsers = {"contract_price": parse_money}
    add_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "responsible": access.ASSIGNABLE_USER_FILTERS,
    }
    edit_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "responsible": access.REQUEST_ASSIGNEE_FILTERS,
    }

    def pre_add(self, item: Request) -> None:
        self._check_customer(item)
        request_domain.prepare_new_request(item, db.session, g.user)
        access.check_responsible_write(item)

    def pre_update(self, item: Request) -> None:
        self._check_customer(item)
        access.check_responsible_write(item)

    @staticmethod
    def _check_customer(item: Request) -> None:
        """His own request may go on any client he sees, a colleague's shared client included."""
        if item.organization is not None and not access.can_see_organization(item.organization.id):
            raise BadRequest("organization")

    def _apply(self, pk: int, schema: Schema, change: Callable[[Request, dict], object]):
        """Load the JSON body, apply one change to a visible request, commit, answer its state."""
        req = access.find_visible_request(pk)
        if req is None:
            return self.response_404()
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message="a JSON object is expected")
        try:
            data = schema.load(payload)
        except ValidationError as error:
            return self.response_422(message=error.messages)
        change(req, data)
        db.session.commit()
        return self.response(200, id=req.id, status=req.status, delivery_status=req.delivery_status)

    @expose("/<int:pk>/items", methods=["PUT"])
    @protect()
    @safe
    def replace_items(self, pk: int):
        """Replace the request's equipment items.
        ---
        put:
          summary: Replace the contract subject
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: saved}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """

        def replace(req: Request, data: dict) -> None:
            request_domain.replace_items(req, data["items"])

        return self._apply(pk, ItemsSchema(), replace)

    @expose("/<int:pk>/status", methods=["POST"])
    @protect()
    @safe
    def post_status(self, pk: int):
        """Change the status, with the required comment.
        ---
        post:
          summary: Change the request status
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: changed}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """
        return self._apply(
            pk,
            StatusChangeSchema(),
            lambda req, data: request_domain.change_status(req, RequestStatus(data["status"]), data["comment"], g.user),
        )

    @expose("/<int:pk>/delivery", methods=["POST"])
    @protect()
    @safe
    def post_delivery(self, pk: int):
        """Change the delivery status, with the required comment.
        ---
        post:
          summary: Change the delivery status
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: changed}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """
        return self._apply(
            pk,
            DeliveryChangeSchema(),
            lambda req, data: request_domain.change_delivery(
                req, DeliveryStatus(data["delivery_status"]), data["comment"], g.user
            ),
        )

    @expose("/<int:pk>/comments", methods=["POST"])
    @protect()
    @safe
    def post_comment(self, pk: int):
        """Add a comment to the request's documentation.
        ---
        post:
          summary: Comment on a request
          parameters: [{in: path, name: pk, required: true, schema: {type: integer}}]
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: added}
            404: {$ref: '#/components/responses/404'}
            422: {$ref: '#/components/responses/422'}
        """
        return self._apply(pk, CommentSchema(), lambda req, data: request_domain.add_comment(req, data["text"], g.user))
