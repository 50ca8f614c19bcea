"""Per-device Agent tokens: connect once with the password, read only the feed and the settings, and be
disconnected by «Отключить», a password change, an admin reset or a deactivation."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from flask import Flask
from sqlalchemy import select

from agent import __version__ as AGENT_VERSION
from app.domain import agent_devices
from app.domain.requests import change_status
from app.extensions import db
from app.models import AgentDevice, CrmUser, RequestStatus
from tests.conftest import PASSWORD, api_token, csrf_token, login
from tests.factories import make_organization, make_request

EVENTS = "/api/v1/agent/events"
SETTINGS = "/api/v1/agent/settings"


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def connect(client, username: str = "petrova", password: str = PASSWORD, name: str = "ПК Петровой (Windows)"):
    return client.post(
        "/api/v1/agent/connect",
        json={"username": username, "password": password, "device_name": name},
        headers={"X-ZapTrade-Agent-Version": AGENT_VERSION},
    )


def device_headers(client, username: str = "petrova") -> dict[str, str]:
    answer = connect(client, username)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    token = answer.get_json()["token"]
    assert token.startswith("zta1_")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def restore_passwords(app: Flask):
    """Tests that change a password put a working one back (the users live for the whole session)."""
    yield
    with app.app_context():
        for username in ("petrova", "sidorov"):
            user = _user(username)
            app.appbuilder.sm.reset_password(user.id, PASSWORD)
            user.active = True
            db.session.commit()


def test_connect_gives_a_token_kept_only_as_a_hash(app, client):
    answer = connect(client)
    assert answer.status_code == 200
    token = answer.get_json()["token"]
    with app.app_context():
        device = db.session.scalars(select(AgentDevice)).one()
        assert device.token_hash == agent_devices.hash_token(token) and token not in device.token_hash
        assert device.name == "ПК Петровой (Windows)" and device.agent_version == AGENT_VERSION
        assert device.user.username == "petrova" and device.revoked_on is None
        assert agent_devices.has_connected_agent(device.user)
        assert not agent_devices.has_connected_agent(_user("sidorov"))


def test_connect_with_a_wrong_password_creates_nothing(app, client):
    assert connect(client, password="wrong").status_code == 401
    assert client.post("/api/v1/agent/connect", json={"username": "petrova"}).status_code == 422
    with app.app_context():
        assert db.session.scalars(select(AgentDevice)).all() == []


def test_the_token_reads_her_feed_through_the_access_policy_and_her_settings(app, client):
    headers = device_headers(client)
    cursor = client.get(EVENTS, headers=headers).get_json()["cursor"]
    with app.app_context(), app.test_request_context():
        petrova, sidorov = _user("petrova"), _user("sidorov")
        own = make_request(make_organization("ООО «Своя»", responsible=petrova), responsible=petrova, author=sidorov)
        foreign = make_request(make_organization("ООО «Тайная»", responsible=sidorov), responsible=sidorov)
        change_status(own, RequestStatus.IN_PROGRESS, "ok", sidorov)
        change_status(foreign, RequestStatus.IN_PROGRESS, "secret", sidorov)
        db.session.commit()
    body = client.get(EVENTS, query_string={"after": cursor}, headers=headers).get_json()
    assert body["events"] and all("Тайная" not in event["message"] for event in body["events"])
    assert all("secret" not in json.dumps(event, ensure_ascii=False) for event in body["events"])
    assert client.put(SETTINGS, json={"kinds": {"reminder": False}}, headers=headers).status_code == 200
    assert client.get(SETTINGS, headers=headers).get_json()["kinds"]["reminder"] is False


def test_the_feed_tells_an_old_agent_to_update(client):
    headers = device_headers(client)
    current = client.get(EVENTS, headers={**headers, "X-ZapTrade-Agent-Version": AGENT_VERSION})
    assert current.get_json()["agent"]["outdated"] is False
    assert current.headers["X-ZapTrade-Agent-Latest"] == AGENT_VERSION
    old = client.get(EVENTS, headers={**headers, "X-ZapTrade-Agent-Version": "0.9.0"}).get_json()["agent"]
    assert old["outdated"] is True and old["version"] == AGENT_VERSION
    assert old["download"].endswith("/agent-settings/")


@pytest.mark.parametrize("how", ["own password change", "admin reset", "deactivation"])
def test_password_change_reset_or_deactivation_disconnects_every_device(app, client, restore_passwords, how):
    first, second = device_headers(client), device_headers(client)
    sidorov = device_headers(client, "sidorov")
    with app.app_context():
        petrova = _user("petrova")
        if how == "deactivation":
            petrova.active = False
        else:
            app.appbuilder.sm.reset_password(petrova.id, "Another-Passw0rd-2026")
        db.session.commit()
    for headers in (first, second):
        assert client.get(EVENTS, headers=headers).status_code == 401
        assert client.get(SETTINGS, headers=headers).status_code == 401
    assert client.get(EVENTS, headers=sidorov).status_code == 200  # a colleague's Agent goes on
    with app.app_context():
        assert not agent_devices.has_connected_agent(_user("petrova"))
        assert all(
            d.revoked_on is not None for d in db.session.scalars(select(AgentDevice)) if d.user.username == "petrova"
        )


def test_she_disconnects_her_device_but_not_a_colleagues(app, client):
    mine, his = device_headers(client), device_headers(client, "sidorov")
    with app.app_context():
        ids = {d.user.username: d.id for d in db.session.scalars(select(AgentDevice))}
    login(client, "petrova")
    page = client.get("/agent-settings/").get_data(as_text=True)
    assert "ПК Петровой (Windows)" in page and "Скачать Агент" in page and "Отключить" in page
    token = csrf_token(client, "/agent-settings/")
    foreign = client.post(f"/agent-settings/devices/{ids['sidorov']}/disconnect", data={"csrf_token": token})
    assert foreign.status_code == 404
    assert client.get(EVENTS, headers=his).status_code == 200
    answer = client.post(f"/agent-settings/devices/{ids['petrova']}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 302
    assert client.get(EVENTS, headers=mine).status_code == 401
    assert "crm-agent-no-devices" in client.get("/agent-settings/").get_data(as_text=True)


def test_the_administrator_sees_and_disconnects_everyones_devices(app, client):
    his = device_headers(client, "sidorov")
    with app.app_context():
        device_id = db.session.scalars(select(AgentDevice)).one().id
    login(client, "admin")
    page = client.get("/agent-settings/").get_data(as_text=True)
    assert "sidorov" in page and "ПК Петровой (Windows)" in page
    token = csrf_token(client, "/agent-settings/")
    assert client.post(f"/agent-settings/devices/{device_id}/disconnect", data={"csrf_token": token}).status_code == 302
    assert client.get(EVENTS, headers=his).status_code == 401


def test_the_download_is_for_logged_in_users_and_knows_the_server(app, client):
    anonymous = client.get("/agent-settings/download")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, "petrova")
    answer = client.get("/agent-settings/download")
    assert answer.status_code == 200
    assert "zaptrade-agent.pyz" in answer.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    # PUBLIC_URL unset: the address the manager reached the CRM at.
    assert json.loads(archive.read("agent/server.json")) == {"server": "http://localhost"}
    assert json.loads(archive.read("agent/build.json"))["version"] == AGENT_VERSION
    assert "__main__.py" in archive.namelist() and "plyer/__init__.py" in archive.namelist()
    assert answer.data.startswith(b"#!/usr/bin/env python3\n")
    app.config["PUBLIC_URL"] = "https://crm.zaptrade.example/"  # set, it wins
    try:
        again = zipfile.ZipFile(io.BytesIO(client.get("/agent-settings/download").data))
        assert json.loads(again.read("agent/server.json")) == {"server": "https://crm.zaptrade.example"}
    finally:
        app.config["PUBLIC_URL"] = ""


def test_a_jwt_still_reads_the_feed(client):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    assert client.get(EVENTS, headers=headers).status_code == 200


def test_guessing_passwords_through_connect_is_stopped_like_the_login(app, client):
    from limits import parse

    from tests.test_auth import fresh_ip

    ip = fresh_ip()
    body = {"username": "petrova", "password": "wrong", "device_name": "guess"}
    for _ in range(parse(app.config["LOGIN_RATE_LIMIT"]).amount):
        assert client.post("/api/v1/agent/connect", json=body, environ_base={"REMOTE_ADDR": ip}).status_code == 401
    right = {**body, "password": PASSWORD}
    answer = client.post("/api/v1/agent/connect", json=right, environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.scalars(select(AgentDevice)).all() == []


def test_the_windows_download_is_the_same_agent_named_to_open_without_a_console(app, client):
    login(client, "petrova")
    linux = client.get("/agent-settings/download?system=linux")
    windows = client.get("/agent-settings/download?system=windows")
    assert linux.headers["Content-Disposition"] == "attachment; filename=zaptrade-agent.pyz"
    # .pyzw is opened by pyw.exe (python.org's py launcher): a double click shows the window, no console
    assert windows.headers["Content-Disposition"] == "attachment; filename=zaptrade-agent.pyzw"
    assert windows.data == linux.data
    assert client.get("/agent-settings/download").headers["Content-Disposition"].endswith("zaptrade-agent.pyz")
