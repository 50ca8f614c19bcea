"""The poll loop against a real HTTP server (tests/agent/fake_crm.py); only plyer's call is replaced."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.client import AuthSession, Client
from agent.config import CURSOR_FILE
from agent.loop import EXIT_FAILED, EXIT_NEEDS_SETUP, EXIT_OK, Agent, CursorState, CursorStore
from agent.notifier import Notifier
from tests.agent.fake_crm import PASSWORD, FakeCRM, encode_cursor
from tests.agent.support import Recorder, wait_for

EVENTS = "/api/v1/agent/events"
LOGIN = "/api/v1/security/login"
REFRESH = "/api/v1/security/refresh"


def shown_ids(recorder: Recorder) -> list[int]:
    """The fake server's messages are "Событие номер N"."""
    return [int(message.rsplit(" ", 1)[1]) for message in recorder.messages if message.startswith("Событие номер")]


@pytest.fixture
def running(make_agent: Callable[..., Agent]) -> Iterator[Callable[..., Agent]]:
    """Start agents in threads; all are stopped and joined at the end of the test."""
    started: list[tuple[Agent, threading.Thread]] = []

    def start(**kwargs: Any) -> Agent:
        agent = make_agent(**kwargs)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        started.append((agent, thread))
        return agent

    yield start
    for agent, thread in started:
        agent.stop.set()
        thread.join(timeout=5)


def test_a_new_agent_starts_from_now_and_then_shows_new_events_in_order(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent], agent_env: Path
) -> None:
    crm.add_events(3)  # history before the agent existed: not replayed
    agent = make_agent()
    assert agent.poll_cycle() == 0
    assert recorder.calls == []
    assert json.loads((agent_env / CURSOR_FILE).read_text())["cursor"] == encode_cursor(3)
    crm.add_event("request_created", title="Новый запрос 2026-0042", message="Событие номер 4")
    crm.add_event("reminder", title="Напоминание", message="Событие номер 5")
    assert agent.poll_cycle() == 2
    assert recorder.titles == ["Новый запрос 2026-0042", "Напоминание"]
    assert shown_ids(recorder) == [4, 5]
    assert recorder.calls[0]["app_name"] == "ZapTrade CRM"
    assert agent.poll_cycle() == 0


def test_a_full_page_is_followed_at_once_by_the_next_request(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(max_popups_per_cycle=1000)
    agent.poll_cycle()
    crm.add_events(250)
    before = crm.count("GET", EVENTS)
    assert agent.poll_cycle() == 250
    assert crm.count("GET", EVENTS) - before == 3  # 100 + 100 + 50, no waiting in between
    assert shown_ids(recorder) == list(range(1, 251))
    crm.add_events(100)
    before = crm.count("GET", EVENTS)
    assert agent.poll_cycle() == 100
    assert crm.count("GET", EVENTS) - before == 2  # exactly a full page: one more call to learn it was the last


def test_catch_up_flood_is_capped_with_one_summary(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent")
    agent = make_agent(max_popups_per_cycle=5)
    agent.poll_cycle()
    crm.add_events(12)
    assert agent.poll_cycle() == 12
    assert shown_ids(recorder) == [1, 2, 3, 4, 5]
    assert len(recorder.calls) == 6 and "ещё 7 уведомлений" in recorder.messages[-1]
    assert agent.delivered == list(range(1, 13))
    assert "event 12 [request_created]" in caplog.text  # every event is in the log


def test_restart_neither_repeats_nor_loses(crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent]) -> None:
    first = make_agent()
    first.poll_cycle()
    crm.add_events(3)
    first.poll_cycle()
    crm.add_events(2)  # arrive while the agent is not running
    second = make_agent()  # a new process: state only from the cursor file
    second.poll_cycle()
    assert shown_ids(recorder) == [1, 2, 3, 4, 5]


def test_crash_in_the_middle_of_a_page_resumes_after_the_last_shown_event(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent], agent_env: Path
) -> None:
    make_agent().poll_cycle()
    crm.add_events(5)

    class Crash(BaseException):
        pass

    def dies_at_the_third_popup(**kwargs: Any) -> None:
        if len(recorder.calls) == 2:
            raise Crash  # like the process being killed while showing event 3
        recorder(**kwargs)

    doomed = make_agent()
    doomed.notifier = Notifier(dies_at_the_third_popup)
    with pytest.raises(Crash):
        doomed.poll_cycle()
    assert shown_ids(recorder) == [1, 2]
    state = CursorStore(agent_env, crm.url, "ivanov").load()
    assert state.shown == [1, 2]
    make_agent().poll_cycle()
    assert shown_ids(recorder) == [1, 2, 3, 4, 5]


def test_bad_cursor_restarts_from_now(
    crm: FakeCRM,
    recorder: Recorder,
    make_agent: Callable[..., Agent],
    agent_env: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm.add_events(2)
    agent_env.mkdir(exist_ok=True)
    CursorStore(agent_env, crm.url, "ivanov").save(CursorState("garbage!"))
    agent = make_agent()
    assert agent.poll_cycle() == 0
    assert "server rejected the cursor" in caplog.text
    assert json.loads((agent_env / CURSOR_FILE).read_text())["cursor"] == encode_cursor(2)
    crm.add_events(1)
    agent.poll_cycle()
    assert shown_ids(recorder) == [3]


def test_password_session_of_api_scripts_refreshes_then_logs_in_again(
    crm: FakeCRM, recorder: Recorder, agent_env: Path
) -> None:
    agent_env.mkdir(parents=True, exist_ok=True)
    session = AuthSession(Client(crm.url, timeout=5), "ivanov", lambda: PASSWORD)
    agent = Agent(session, Notifier(recorder), CursorStore(agent_env, crm.url, "ivanov"), settings_every=None)
    agent.poll_cycle()
    assert crm.count("POST", LOGIN) == 1
    crm.expire_access_tokens()
    crm.add_events(1)
    agent.poll_cycle()
    assert (crm.count("POST", REFRESH), crm.count("POST", LOGIN)) == (1, 1)  # refresh, no new login
    crm.expire_access_tokens()
    crm.revoke_refresh_tokens()
    crm.add_events(1)
    agent.poll_cycle()
    assert (crm.count("POST", REFRESH), crm.count("POST", LOGIN)) == (2, 2)  # refresh refused, logged in again
    assert shown_ids(recorder) == [1, 2]


def test_the_agent_never_logs_in_with_a_password(crm: FakeCRM, make_agent: Callable[..., Agent]) -> None:
    agent = make_agent()
    agent.poll_cycle()
    crm.add_events(2)
    agent.poll_cycle()
    assert crm.count("POST", LOGIN) == 0 and crm.count("POST", REFRESH) == 0


def test_disconnected_device_shows_one_popup_and_stops(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent]
) -> None:
    asked_to_log_in: list[bool] = []
    agent = make_agent(on_revoked=lambda: asked_to_log_in.append(True))
    agent.poll_cycle()
    crm.revoke_devices()  # «Отключить» on the «Агент» page, or a password change
    crm.add_events(1)
    assert agent.run() == EXIT_NEEDS_SETUP  # returns by itself: no endless retries
    assert recorder.titles == ["Агент отключён — войдите снова"]
    assert asked_to_log_in == [True]  # the window opens (or the instruction is printed)
    assert crm.count("POST", LOGIN) == 0


def test_outdated_agent_shows_one_popup_with_the_download_link(
    crm: FakeCRM, recorder: Recorder, make_agent: Callable[..., Agent]
) -> None:
    crm.latest_version = "9.9.9"
    agent = make_agent()
    agent.poll_cycle()
    crm.add_events(1)
    agent.poll_cycle()
    make_agent().poll_cycle()  # restarted: told already
    outdated = [call for call in recorder.calls if call["title"] == "Доступна новая версия Агента"]
    assert len(outdated) == 1
    assert "9.9.9" in outdated[0]["message"] and crm.url + "/agent" in outdated[0]["message"]
    assert shown_ids(recorder) == [1]


def test_server_errors_back_off_then_catch_up(
    crm: FakeCRM,
    recorder: Recorder,
    running: Callable[..., Agent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agent")
    agent = running()
    wait_for(lambda: crm.count("GET", EVENTS) >= 1)
    crm.fail_next.extend([503, 500, 502])
    crm.add_events(2)
    wait_for(lambda: len(recorder.calls) == 2)
    assert shown_ids(recorder) == [1, 2]
    # The recovery is logged once the cycle that showed the pop-ups returns, a moment later.
    wait_for(lambda: "server reachable again" in caplog.text)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "server unavailable" in r.message]
    assert len(warnings) == 1  # once per failure streak
    assert "503" in warnings[0].message
    assert "server reachable again after 3 failed attempts" in caplog.text
    assert agent.backoff.attempt == 0


def test_server_stopped_and_restarted_on_the_same_port_loses_and_repeats_nothing(
    crm: FakeCRM, recorder: Recorder, running: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent")
    agent = running()
    wait_for(lambda: crm.count("GET", EVENTS) >= 1)
    crm.add_events(3)
    wait_for(lambda: len(recorder.calls) == 3)
    port = crm.port
    crm.stop()
    crm.add_events(4)  # written while the server is down (e.g. restored after a restart)
    wait_for(lambda: agent.backoff.attempt >= 4)  # several failed attempts, backing off
    crm.expire_access_tokens()  # and it forgot every token
    crm.revoke_refresh_tokens()
    crm.start()
    assert crm.port == port
    crm.add_events(1)
    wait_for(lambda: len(recorder.calls) == 8)
    assert shown_ids(recorder) == list(range(1, 9))
    assert "Connection refused" in caplog.text or "ConnectionRefused" in caplog.text
    assert caplog.text.count("server unavailable") == 1


def test_once_reports_failure_when_the_server_is_down(crm: FakeCRM, make_agent: Callable[..., Agent]) -> None:
    agent = make_agent()
    crm.stop()
    assert agent.run(once=True) == EXIT_FAILED


def test_once_does_one_cycle(crm: FakeCRM, make_agent: Callable[..., Agent]) -> None:
    assert make_agent().run(once=True) == EXIT_OK
    assert crm.count("GET", EVENTS) == 1


def test_poll_interval_follows_the_server_setting(crm: FakeCRM, make_agent: Callable[..., Agent]) -> None:
    crm.settings["poll_seconds"] = 90
    agent = make_agent(settings_every=600)
    agent.run(once=True)
    assert agent.poll_seconds == 90


def test_client_maps_answers_to_typed_errors(crm: FakeCRM) -> None:
    from agent.client import AuthError, BadCursor, ServerUnavailable

    client = Client(crm.url, timeout=5)
    with pytest.raises(AuthError):
        client.login("ivanov", "wrong")
    with pytest.raises(AuthError):
        client.events("not-a-token", None)
    with pytest.raises(AuthError):
        client.refresh("not-a-token")
    token = client.login("ivanov", crm.passwords["ivanov"]).access_token
    with pytest.raises(BadCursor):
        client.events(token, "zzz")
    crm.fail_next.append(503)
    with pytest.raises(ServerUnavailable):
        client.events(token, None)
    with pytest.raises(ServerUnavailable):
        Client("http://127.0.0.1:9", timeout=2).login("ivanov", "x")
    session = AuthSession(client, "ivanov", lambda: None)
    from agent.client import PasswordMissing

    with pytest.raises(PasswordMissing):
        session.call(lambda token: client.events(token, None))
