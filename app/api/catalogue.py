"""Catalogue suggestions as JSON, for the request form and API clients."""

from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, protect, safe

from app.domain.catalogue import suggest
from app.extensions import db
from app.models.catalogue import CATALOGUE_FIELDS


class CatalogueApi(BaseApi):
    resource_name = "catalogue"
    allow_browser_login = True
    openapi_spec_tag = "Catalogue"

    @expose("/suggest", methods=["GET"])
    @protect()
    @safe
    def suggest(self):
        """Known values of one item field, narrowed by the fields before it.
        ---
        get:
          summary: Suggestions for an equipment field
          parameters:
          - in: query
            name: field
            required: true
            schema: {type: string, enum: [equipment_type, name, subname, capacity]}
          - {in: query, name: q, schema: {type: string}, description: what was typed so far}
          - {in: query, name: equipment_type, schema: {type: string}}
          - {in: query, name: name, schema: {type: string}}
          - {in: query, name: subname, schema: {type: string}}
          responses:
            200:
              description: the values, most used first
              content:
                application/json:
                  schema: {type: object, properties: {result: {type: array, items: {type: string}}}}
            400: {$ref: '#/components/responses/400'}
        """
        field = request.args.get("field", "")
        if field not in CATALOGUE_FIELDS:
            return self.response_400(message=f"field must be one of {', '.join(CATALOGUE_FIELDS)}")
        earlier = {name: request.args.get(name, "")[:255] for name in CATALOGUE_FIELDS}
        values = suggest(db.session, field, request.args.get("q", "")[:255], **earlier)
        return self.response(200, result=values)
