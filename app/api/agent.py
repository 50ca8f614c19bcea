"""The Agent's API: GET /api/v1/agent/events?after=<cursor>, GET/PUT /api/v1/agent/settings."""

from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from marshmallow import Schema, ValidationError, fields, validate

from app.domain import agent_feed
from app.extensions import db
from app.models.events import EventKind


class KindsSchema(Schema):
    request_created = fields.Boolean()
    request_status = fields.Boolean()
    delivery_status = fields.Boolean()
    request_comment = fields.Boolean()
    reminder = fields.Boolean()


class SettingsSchema(Schema):
    kinds = fields.Nested(KindsSchema)
    poll_seconds = fields.Integer(validate=validate.Range(min=5, max=3600))


def settings_payload(settings) -> dict:
    return {
        "kinds": {kind.value: bool(getattr(settings, kind.value)) for kind in EventKind},
        "poll_seconds": settings.poll_seconds,
    }


class AgentApi(BaseApi):
    resource_name = "agent"
    openapi_spec_tag = "Agent"
    class_permission_name = "AgentApi"

    @expose("/events", methods=["GET"])
    @protect()
    @safe
    def events(self):
        """The caller's events after the cursor, oldest first.
        ---
        get:
          summary: Agent event feed
          parameters:
          - {in: query, name: after, schema: {type: string}, description: the cursor of the previous answer}
          responses:
            200:
              description: events and the cursor for the next call
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      events: {type: array, items: {type: object}}
                      cursor: {type: string}
            400: {$ref: '#/components/responses/400'}
            401: {$ref: '#/components/responses/401'}
        """
        try:
            events, cursor = agent_feed.page(db.session, g.user, request.args.get("after"))
        except agent_feed.BadCursor:
            return self.response_400(message="the cursor is malformed or was issued to another user; call without it")
        db.session.commit()  # settings created on the first call
        return self.response(200, events=events, cursor=cursor)

    @expose("/settings", methods=["GET"])
    @protect()
    @safe
    def get_settings(self):
        """Which notifications the caller's Agent shows.
        ---
        get:
          summary: Agent settings
          responses:
            200: {description: the settings}
            401: {$ref: '#/components/responses/401'}
        """
        settings = agent_feed.settings_for(db.session, g.user)
        db.session.commit()
        return self.response(200, **settings_payload(settings))

    @expose("/settings", methods=["PUT"])
    @protect()
    @safe
    def put_settings(self):
        """Change which notifications the caller's Agent shows.
        ---
        put:
          summary: Change Agent settings
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: the new settings}
            400: {$ref: '#/components/responses/400'}
            422: {$ref: '#/components/responses/422'}
        """
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message="a JSON object is expected")
        try:
            data = SettingsSchema().load(payload)
        except ValidationError as error:
            return self.response_422(message=error.messages)
        settings = agent_feed.settings_for(db.session, g.user)
        for kind, enabled in data.get("kinds", {}).items():
            setattr(settings, kind, enabled)
        if "poll_seconds" in data:
            settings.poll_seconds = data["poll_seconds"]
        db.session.commit()
        return self.response(200, **settings_payload(settings))
