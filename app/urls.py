"""The site's address as users reach it, for links in e-mails, Agent pop-ups and its settings."""

from __future__ import annotations

from flask import current_app, has_request_context, request


def public_url() -> str:
    """PUBLIC_URL when set; else the address this request came to; else the address `make run`
    actually serves (SERVED_URL, exported to the worker processes), so a site moved to the next
    free port never links to the old one."""
    configured = (current_app.config.get("PUBLIC_URL") or "").strip()
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return current_app.config["SERVED_URL"].rstrip("/")
