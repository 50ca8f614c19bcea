"""The real Agent loop against the real server: gunicorn, an RQ worker and the scheduler as
processes, Redis, the database and the SMTP sink. Only plyer's call is replaced, by a recorder."""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import timedelta

import keyring
import pytest
from redis import Redis
from sqlalchemy import select

from agent.client import Client, TokenSession
from agent.loop import Agent, Backoff, CursorStore
from agent.notifier import Notifier
from app.domain import reminders as reminder_domain
from app.domain.requests import add_comment, change_status
from app.extensions import db
from app.jobs.reminders import schedule_reminder
from app.models import CrmUser, Request, RequestStatus
from app.models.stamps import utcnow
from tests.agent.keyrings_for_tests import MemoryKeyring
from tests.agent.support import Recorder
from tests.background import Background, wait_until
from tests.conftest import PASSWORD
from tests.factories import make_organization, make_request
from tests.smtp_sink import free_port


class Api:
    """Another user working through the REST API of the running server."""

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        self.token = self.call(
            "POST", "/api/v1/security/login", {"username": username, "password": PASSWORD, "provider": "db"}
        )["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path, method=method, data=json.dumps(body).encode() if body else None
        )
        request.add_header("Content-Type", "application/json")
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


@pytest.fixture
def server(app, smtp, tmp_path, monkeypatch):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.clear()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = Background(app, tmp_path, PUBLIC_URL=url)
    processes.port = port
    processes.url = url
    processes.start_web(port)
    assert wait_until(lambda: _healthy(url), timeout=60), processes.logs()
    processes.start("worker")
    processes.start("scheduler")
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield processes
    processes.stop_all()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health?scope=web", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture
def agent_home(tmp_path, monkeypatch):
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("ZAPTRADE_AGENT_HOME", str(home))
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)


class RunningAgent:
    """Петрова's Agent, running its real loop in a thread."""

    def __init__(self, url: str, home) -> None:
        self.recorder = Recorder()
        if keyring.get_password("zaptrade-agent-token", "petrova") is None:  # connected once, like the window does
            token = Client(url, timeout=5).connect("petrova", PASSWORD, "ПК Петровой")
            keyring.set_password("zaptrade-agent-token", "petrova", token)
        session = TokenSession(
            Client(url, timeout=5), "petrova", lambda: keyring.get_password("zaptrade-agent-token", "petrova")
        )
        self.stop = threading.Event()
        self.agent = Agent(
            session,
            Notifier(self.recorder),
            CursorStore(home, url, "petrova"),
            poll_seconds=0.3,
            settings_every=None,
            backoff=Backoff(base=0.2, cap=1.0),
            stop=self.stop,
        )
        self.thread = threading.Thread(target=self.agent.run, daemon=True)

    def __enter__(self) -> RunningAgent:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(CrmUser.id).where(CrmUser.username == username))


def test_agent_pops_up_the_five_kinds_in_order_and_nothing_it_may_not_see(app, server, agent_home):
    petrova_id = _user_id(app, "petrova")
    with app.app_context():
        own_id = make_organization("ООО «Агентная»", responsible=db.session.get(CrmUser, petrova_id)).id
        sidorov = db.session.scalars(select(CrmUser).where(CrmUser.username == "sidorov")).one()
        foreign = make_request(
            make_organization("ООО «Секретная»", responsible=sidorov), responsible=sidorov, author=sidorov
        )
        foreign_id = foreign.id
    with RunningAgent(server.url, agent_home) as running:
        assert wait_until(lambda: (agent_home / "cursor.json").exists(), timeout=20)  # started "from now"
        ivanov = Api(server.url, "ivanov")
        request_id = ivanov.call("POST", "/api/v1/request/", {"organization": own_id, "responsible": petrova_id})["id"]
        ivanov.call(
            "PUT",
            f"/api/v1/request/{request_id}/items",
            {"items": [{"equipment_type": "Система очистки", "name": "OUUT"}]},
        )
        ivanov.call(
            "POST", f"/api/v1/request/{request_id}/status", {"status": "in_progress", "comment": "КП отправлено"}
        )
        ivanov.call(
            "POST", f"/api/v1/request/{request_id}/delivery", {"delivery_status": "shipped", "comment": "Отгрузили"}
        )
        ivanov.call("POST", f"/api/v1/request/{request_id}/comments", {"text": "Клиент просит скидку 5%"})
        sidorov_api = Api(server.url, "sidorov")
        sidorov_api.call("POST", f"/api/v1/request/{foreign_id}/status", {"status": "stalled", "comment": "секрет"})
        with app.app_context():
            petrova = db.session.get(CrmUser, petrova_id)
            reminder = reminder_domain.create_reminder(
                db.session, petrova, "Перезвонить в «Агентную»", utcnow() + timedelta(seconds=2)
            )
            db.session.commit()
            schedule_reminder(reminder)
            number = db.session.get(Request, request_id).number
        assert wait_until(lambda: len(running.recorder.calls) >= 5, timeout=60), (
            running.recorder.titles,
            server.logs(),
        )
        assert running.recorder.titles == [
            f"Новый запрос {number}",
            f"Запрос {number}: В работе",
            f"Доставка {number}: Отгружено",
            f"Комментарий к запросу {number}",
            "Напоминание",
        ]
        assert "Иван Иванов" in running.recorder.messages[1] and "КП отправлено" in running.recorder.messages[1]
        assert "Перезвонить в «Агентную»" in running.recorder.messages[4]
        assert not any("Секретная" in m or "секрет" in m for m in running.recorder.messages)

        # She switches delivery notifications off: the next delivery change is not shown.
        petrova_api = Api(server.url, "petrova")
        petrova_api.call("PUT", "/api/v1/agent/settings", {"kinds": {"delivery_status": False}})
        ivanov.call(
            "POST", f"/api/v1/request/{request_id}/delivery", {"delivery_status": "delivered", "comment": "Доставлено"}
        )
        ivanov.call("POST", f"/api/v1/request/{request_id}/status", {"status": "completed", "comment": "Оплачено"})
        assert wait_until(lambda: len(running.recorder.calls) >= 6, timeout=30)
        assert running.recorder.titles[5] == f"Запрос {number}: Заказ выполнен"
        shown_before_restart = list(running.recorder.titles)

    # Restarted, the Agent repeats nothing.
    with RunningAgent(server.url, agent_home) as restarted:
        ivanov.call("POST", f"/api/v1/request/{request_id}/comments", {"text": "После перезапуска"})
        assert wait_until(lambda: len(restarted.recorder.calls) >= 1, timeout=30)
        assert restarted.recorder.titles == [f"Комментарий к запросу {number}"]
        assert len(shown_before_restart) == 6

        # The server goes down for a while; what happens meanwhile is shown once it is back.
        web = server.processes[0]
        server.stop(web)
        with app.app_context():
            request = db.session.get(Request, request_id)
            ivanov_user = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
            change_status(request, RequestStatus.STALLED, "Пока сервер лежал", ivanov_user)
            add_comment(request, "И ещё комментарий", ivanov_user)
            db.session.commit()
        server.start_web(server.port)
        assert wait_until(lambda: len(restarted.recorder.calls) >= 3, timeout=60), server.logs()
        assert restarted.recorder.titles[1:] == [f"Запрос {number}: Затормозилось", f"Комментарий к запросу {number}"]
        assert len(restarted.recorder.calls) == 3
