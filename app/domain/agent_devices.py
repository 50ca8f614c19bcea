"""Per-device Agent tokens: issued once for a login and password, checked on every feed call.

A token is 32 random bytes shown to the Agent once; the server keeps only its SHA-256. It is
valid while its row is not revoked, its user is active and the account fingerprint it was issued
under (app/auth.py: password hash + active flag) still matches, so a password change, an admin
reset or a deactivation disconnects every device without anyone having to remember to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent import __version__ as CURRENT_AGENT_VERSION
from app import access
from app.auth import account_fingerprint
from app.models.agent_devices import AgentDevice
from app.models.stamps import utcnow
from app.models.users import CrmUser

TOKEN_PREFIX = "zta1_"
VERSION_HEADER = "X-ZapTrade-Agent-Version"
LATEST_HEADER = "X-ZapTrade-Agent-Latest"
# last_seen is written at most this often per device: a poll every 5 s must not mean a write every 5 s.
SEEN_EVERY = timedelta(seconds=60)
NAME_LIMIT = 100
DOWNLOAD_NAME = "zaptrade-agent.pyz"


def hash_token(token: str) -> str:
    # The token carries 256 random bits: a plain hash is enough, no salt or stretching to slow a guess.
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_device_token(authorization: str | None) -> str | None:
    """The device token of an ``Authorization: Bearer zta1_…`` header; None for anything else (a JWT)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(TOKEN_PREFIX):
        return None
    return value


def clean_version(value: str | None) -> str:
    return "".join(char for char in (value or "") if char.isalnum() or char in ".-+")[:32]


def connect(session: Session, user: CrmUser, device_name: str, version: str | None) -> tuple[AgentDevice, str]:
    """A new device for ``user``; returns the row and the token (the only time it exists in clear)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    name = " ".join((device_name or "").split())[:NAME_LIMIT] or "?"
    device = AgentDevice(
        user_id=user.id,
        token_hash=hash_token(token),
        account=account_fingerprint(user),
        name=name,
        agent_version=clean_version(version),
        last_seen_on=utcnow(),
    )
    session.add(device)
    session.flush()
    return device, token


def is_connected(device: AgentDevice) -> bool:
    """Not disconnected, and the account has not changed its password or been deactivated since."""
    user = device.user
    return (
        device.revoked_on is None
        and user is not None
        and bool(user.active)
        and hmac.compare_digest(device.account, account_fingerprint(user))
    )


def authenticate(session: Session, token: str, version: str | None, now: datetime | None = None) -> AgentDevice | None:
    """The device of a valid token (its last-seen time and version noted), or None.

    A token whose account changed is marked revoked here, so the «Агент» page shows it disconnected.
    """
    device = session.scalars(select(AgentDevice).where(AgentDevice.token_hash == hash_token(token))).first()
    if device is None or device.revoked_on is not None:
        return None
    now = now or utcnow()
    if not is_connected(device):
        device.revoked_on = now
        return None
    seen = device.last_seen_on
    if seen is not None and seen.tzinfo is None:  # SQLite gives naive UTC back
        seen = seen.replace(tzinfo=now.tzinfo)
    version = clean_version(version)
    if seen is None or now - seen >= SEEN_EVERY:
        device.last_seen_on = now
    if version and version != device.agent_version:
        device.agent_version = version
    return device


def visible_devices(session: Session, viewer: CrmUser) -> list[AgentDevice]:
    """Connected devices the viewer may manage, newest first (the administrator: everyone's)."""
    query = select(AgentDevice).where(AgentDevice.revoked_on.is_(None))
    clause = access.agent_device_clause(viewer)
    if clause is not None:
        query = query.where(clause)
    rows = session.scalars(query.order_by(AgentDevice.created_on.desc(), AgentDevice.id.desc())).all()
    return [device for device in rows if is_connected(device)]


def disconnect(session: Session, viewer: CrmUser, device_id: int) -> AgentDevice | None:
    """Revoke one device the viewer may manage; None when there is no such device for him (→ 404)."""
    query = select(AgentDevice).where(AgentDevice.id == device_id, AgentDevice.revoked_on.is_(None))
    clause = access.agent_device_clause(viewer)
    if clause is not None:
        query = query.where(clause)
    device = session.scalars(query).first()
    if device is not None:
        device.revoked_on = utcnow()
    return device


def has_connected_agent(user: CrmUser) -> bool:
    """For the start page's hint: has this manager ever connected an Agent that still works?"""
    from app.extensions import db

    rows = db.session.scalars(
        select(AgentDevice).where(AgentDevice.user_id == user.id, AgentDevice.revoked_on.is_(None))
    ).all()
    return any(is_connected(device) for device in rows)


def _version_tuple(value: str) -> tuple[int, ...]:
    parts = []
    for piece in value.split("."):
        digits = "".join(char for char in piece if char.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def is_outdated(version: str | None) -> bool:
    """An Agent older than the one this server offers (an unknown version is not nagged)."""
    version = clean_version(version)
    return bool(version) and _version_tuple(version) < _version_tuple(CURRENT_AGENT_VERSION)


def download_path(instance_dir: Path) -> Path:
    return instance_dir / "agent" / DOWNLOAD_NAME


def ensure_built(path: Path) -> Path:
    """The downloadable Agent of this server's version, built now if missing or older (make agent builds it too)."""
    from agent import build

    if build.built_version(path) != CURRENT_AGENT_VERSION:
        build.build(path)
    return path
