"""The Agent's API: POST /api/v1/agent/connect, GET /api/v1/agent/events?after=<cursor>,
GET/PUT /api/v1/agent/settings.

The feed and the settings accept a per-device token (``Bearer zta1_…``, from /connect) as well as
FAB's JWT; a device token is accepted by these three methods only: every other route reads the
header as a JWT and refuses it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request, url_for
from flask_appbuilder.api import BaseApi, expose, protect, safe
from marshmallow import Schema, ValidationError, fields, validate

from agent import __version__ as CURRENT_AGENT_VERSION
from app import auth, urls
from app.domain import agent_devices, agent_feed
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


class ConnectSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=256))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    device_name = fields.String(load_default="", validate=validate.Length(max=256))


def device_token_or_jwt(func: Callable[..., Any]) -> Callable[..., Any]:
    """FAB's ``protect()``, or a device token checked under the same permission for its user.

    The user behind the token goes to ``g.user``, so the feed filters through access.event_clause
    exactly as for a JWT.
    """
    protected = protect()(func)

    def wrapper(self: BaseApi, *args: Any, **kwargs: Any) -> Any:
        token = agent_devices.bearer_device_token(request.headers.get("Authorization"))
        if token is None:
            return protected(self, *args, **kwargs)
        device = agent_devices.authenticate(db.session, token, request.headers.get(agent_devices.VERSION_HEADER))
        if device is None:
            db.session.commit()  # a revocation found on the way is kept
            return self.response_401()
        permission = f"can_{protected._permission_name}"
        if not current_app.appbuilder.sm._has_view_access(device.user, permission, self.class_permission_name):
            db.session.commit()
            return self.response_403()
        g.user = device.user
        g.agent_device = device
        return func(self, *args, **kwargs)

    return functools.update_wrapper(wrapper, protected)


def agent_version_info() -> dict[str, Any]:
    """What the feed tells an Agent about its version: the current one, and where to get it."""
    version = request.headers.get(agent_devices.VERSION_HEADER)
    return {
        "version": CURRENT_AGENT_VERSION,
        "outdated": agent_devices.is_outdated(version),
        "download": urls.public_url() + url_for("AgentSettingsView.index"),
    }


class AgentApi(BaseApi):
    resource_name = "agent"
    openapi_spec_tag = "Agent"
    class_permission_name = "AgentApi"

    @expose("/connect", methods=["POST"])
    @safe
    def connect(self):
        """Exchange a login and password, once, for a token of this device.
        ---
        post:
          summary: Connect an Agent
          requestBody: {content: {application/json: {schema: {type: object}}}}
          responses:
            200: {description: the device token (shown only now)}
            401: {$ref: '#/components/responses/401'}
            422: {$ref: '#/components/responses/422'}
        """
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response_400(message="a JSON object is expected")
        try:
            data = ConnectSchema().load(payload)
        except ValidationError as error:
            return self.response_422(message=error.messages)
        retry_after = auth.login_throttle().retry_after(request.remote_addr, data["username"])
        if retry_after:
            response = self.response(429, message=auth.throttled_message(retry_after))
            response.headers["Retry-After"] = str(retry_after)
            return response
        user = current_app.appbuilder.sm.auth_user_db(data["username"], data["password"])
        if user is None:
            db.session.rollback()
            return self.response_401()
        device, token = agent_devices.connect(
            db.session, user, data["device_name"], request.headers.get(agent_devices.VERSION_HEADER)
        )
        db.session.commit()
        return self.response(
            200,
            token=token,
            device_id=device.id,
            username=user.username,
            agent=agent_version_info(),
        )

    @expose("/events", methods=["GET"])
    @device_token_or_jwt
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
        db.session.commit()  # settings created on the first call, the device's last-seen time
        info = agent_version_info()
        response = self.response(200, events=events, cursor=cursor, agent=info)
        response.headers[agent_devices.LATEST_HEADER] = info["version"]
        return response

    @expose("/settings", methods=["GET"])
    @device_token_or_jwt
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
    @device_token_or_jwt
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
