"""The radar's words, "stalled" and "needs action", on hand-made requests; the next step; the
lists' filters and badges; the start page «Сегодня» and the board «Воронка» in the web UI."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from app.domain import activity, dashboard
from app.domain.reminders import as_utc, create_reminder
from app.domain.requests import add_comment, attach_document, build_items, change_status
from app.extensions import db
from app.files import store_upload
from app.models import AgentEvent, CrmUser, Reminder, Request, RequestStatus, StatusChange
from app.models.stamps import utcnow
from tests.conftest import api_token, csrf_token, login
from tests.factories import make_organization, make_request


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def quiet_for(request_id: int, days: float) -> None:
    """As if nothing had happened to the request for `days` days."""
    db.session.execute(
        update(Request).where(Request.id == request_id).values(last_activity_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()


def new_request(name: str, username: str = "petrova", **fields) -> Request:
    owner = user(username)
    organization = make_organization(name, responsible=owner)
    return make_request(organization, responsible=owner, author=owner, **fields)


def last_activity(request_id: int):
    db.session.expire_all()
    return db.session.get(Request, request_id).last_activity_at


def test_status_comment_document_and_item_changes_move_the_last_activity(app):
    with app.app_context(), app.test_request_context():
        request = new_request("ООО «Активность»")
        assert request.last_activity_at is not None
        petrova = user("petrova")
        for change in (
            lambda r: change_status(r, RequestStatus.IN_PROGRESS, "Клиент ответил", petrova),
            lambda r: add_comment(r, "Позвонил", petrova),
            lambda r: attach_document(
                r, store_upload(FileStorage(io.BytesIO(b"%PDF-1.4"), filename="kp.pdf")), petrova
            ),
            lambda r: setattr(r, "items", build_items([{"equipment_type": "Компрессор"}])),
        ):
            quiet_for(request.id, 20)
            before = last_activity(request.id)
            change(db.session.get(Request, request.id))
            db.session.commit()
            assert last_activity(request.id) > before + timedelta(days=19)
        # Editing the finance block is not activity with the client.
        quiet_for(request.id, 20)
        before = last_activity(request.id)
        db.session.get(Request, request.id).contract_number = "Д-1"
        db.session.commit()
        assert last_activity(request.id) == before


def test_stalled_is_quiet_past_the_line_or_the_status_and_never_a_closed_request(app):
    with app.app_context():
        fresh = new_request("ООО «Свежий»")
        almost = new_request("ООО «Почти»")
        quiet = new_request("ООО «Тихий»")
        by_status = new_request("ООО «Затормозился»", status=RequestStatus.STALLED)
        closed = new_request("ООО «Закрыт»", status=RequestStatus.COMPLETED)
        quiet_for(almost.id, 13.5)
        quiet_for(quiet.id, 14.5)
        quiet_for(closed.id, 100)
        stalled = set(db.session.scalars(select(Request.number).where(activity.stalled_clause())))
        assert stalled == {quiet.number, by_status.number}
        for request in (fresh, almost, quiet, by_status, closed):
            db.session.refresh(request)
            assert activity.is_stalled(request) == (request.number in stalled)
        app.config["STALLED_AFTER_DAYS"] = 10  # the administrator's setting moves the line
        try:
            stalled = set(db.session.scalars(select(Request.number).where(activity.stalled_clause())))
            assert stalled == {almost.number, quiet.number, by_status.number}
        finally:
            app.config["STALLED_AFTER_DAYS"] = 14


def test_needs_action_is_stalled_or_a_next_step_due_today_or_before(app):
    today = date(2026, 12, 2)
    with app.app_context():
        due_today = new_request("ООО «Сегодня»", next_step_on=today)
        overdue = new_request("ООО «Вчера»", next_step_on=today - timedelta(days=1))
        later = new_request("ООО «Завтра»", next_step_on=today + timedelta(days=1))
        quiet = new_request("ООО «Тихий»")
        done = new_request("ООО «Выполнен»", next_step_on=today, status=RequestStatus.COMPLETED)
        quiet_for(quiet.id, 30)
        found = set(db.session.scalars(select(Request.number).where(activity.needs_action_clause(today))))
        assert found == {due_today.number, overdue.number, quiet.number}
        assert later.number not in found and done.number not in found


def test_the_requests_list_filters_by_the_radar_sorts_by_next_step_and_shows_the_badge(app, client):
    with app.app_context():
        quiet = new_request("ООО «Тихий»", next_step_on=date.today() + timedelta(days=5))
        fresh = new_request("ООО «Свежий»", next_step_on=date.today() + timedelta(days=1))
        other = new_request("ООО «Чужой тихий»", username="sidorov")
        quiet_for(quiet.id, 20)
        quiet_for(other.id, 20)
        numbers = quiet.number, fresh.number, other.number
    login(client, "petrova")
    stalled = client.get("/requestview/list/?attention=stalled").get_data(as_text=True)
    assert numbers[0] in stalled and numbers[1] not in stalled and numbers[2] not in stalled
    assert stalled.count('class="crm-row"') == 1 and "crm-stalled" in stalled
    by_step = client.get("/requestview/list/?_oc_RequestView=next_step_on&_od_RequestView=asc").get_data(as_text=True)
    assert by_step.index(numbers[1]) < by_step.index(numbers[0])


def test_the_next_step_is_set_in_the_form_and_the_api_and_becomes_a_reminder_in_one_click(app, client):
    with app.app_context():
        request = new_request("ООО «Следующий шаг»")
        request_id, organization_id = request.id, request.organization_id
    login(client, "petrova")
    step_day = date.today() + timedelta(days=3)  # a day ahead: the button reminds at 9:00 on it
    form = {
        "csrf_token": csrf_token(client, f"/requestview/edit/{request_id}"),
        "organization": str(organization_id),
        "request_date": date.today().isoformat(),
        "equipment-0-equipment_type": "Система очистки",
        "equipment-0-quantity": "1",
        "next_step_on": step_day.isoformat(),
        "next_step_text": "Отправить КП",
        "currency": "RUB",
    }
    with app.app_context():
        form["responsible"] = str(user("petrova").id)
    answer = client.post(f"/requestview/edit/{request_id}", data=form, follow_redirects=True)
    page = answer.get_data(as_text=True)
    shown_day = step_day.strftime("%d.%m.%Y")
    assert shown_day in page and "Отправить КП" in page
    assert "Напомнить в этот день в 9:00" in page
    step = page[page.index('class="crm-next-step"') :]
    assert f'name="due" value="{step_day.isoformat()}T09:00"' in step[: step.index("</dd>")]
    # The card's one-click button posts the reminder form with the step's text and day.
    token = csrf_token(client, f"/requestview/show/{request_id}")
    answer = client.post(
        "/reminders/new",
        data={
            "csrf_token": token,
            "request_id": str(request_id),
            "text": "Отправить КП",
            "due": f"{step_day.isoformat()}T09:00",
        },
    )
    assert answer.status_code == 302
    with app.app_context():
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.text == "Отправить КП" and reminder.request_id == request_id
        assert reminder.due_at.astimezone(activity_zone()).strftime("%d.%m.%Y %H:%M") == f"{shown_day} 09:00"
    # Set once, the card says so instead of offering the button again.
    step = client.get(f"/requestview/show/{request_id}").get_data(as_text=True)
    step = step[step.index('class="crm-next-step"') :]
    step = step[: step.index("</dd>")]
    assert f"Напоминание поставлено на {shown_day} 09:00" in step
    assert "crm-next-step-reminder" not in step and "Напомнить в этот день" not in step
    # The API reads and writes the same fields.
    headers = {"Authorization": f"Bearer {api_token(app.test_client(), 'petrova')}"}
    api = app.test_client()
    answer = api.put(
        f"/api/v1/request/{request_id}",
        json={"next_step_on": "2026-12-11", "next_step_text": "Созвон"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    shown = api.get(f"/api/v1/request/{request_id}", headers=headers).get_json()["result"]
    assert shown["next_step_on"] == "2026-12-11" and shown["next_step_text"] == "Созвон"
    assert shown["last_activity_at"]


def activity_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Moscow")


def moscow(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=activity_zone()).astimezone(UTC)


def test_the_next_step_button_always_offers_a_time_still_ahead(app):
    """Ahead: its day at 9:00. Today before 9:00: 9:00; later: the next full hour; at 23:30 and
    for a step already past: «in an hour», counted when the button is pressed."""
    today = date(2026, 12, 8)
    with app.app_context():
        petrova = user("petrova")
        request = new_request("ООО «Когда напомнить»", next_step_on=today + timedelta(days=2))
        ahead = offer_for(petrova, request, moscow(today, 14, 20))
        assert (ahead.due, ahead.preset, ahead.today) == (datetime(2026, 12, 10, 9, 0), None, False)
        request.next_step_on = today
        assert offer_for(petrova, request, moscow(today, 7, 30)).due == datetime(2026, 12, 8, 9, 0)
        later = offer_for(petrova, request, moscow(today, 14, 20))
        assert (later.due, later.today) == (datetime(2026, 12, 8, 15, 0), True)
        assert offer_for(petrova, request, moscow(today, 9, 0)).due == datetime(2026, 12, 8, 10, 0)
        late = offer_for(petrova, request, moscow(today, 23, 30))
        assert (late.due, late.preset) == (None, "in_an_hour")
        request.next_step_on = today - timedelta(days=1)
        past = offer_for(petrova, request, moscow(today, 10, 0))
        assert (past.due, past.preset, past.existing) == (None, "in_an_hour", None)
        request.next_step_on = None
        assert offer_for(petrova, request, moscow(today, 10, 0)) is None


def test_a_reminder_already_set_for_the_next_step_replaces_the_button(app):
    today = date(2026, 12, 8)
    with app.app_context():
        petrova, sidorov = user("petrova"), user("sidorov")
        request = new_request("ООО «Уже напомнили»", next_step_on=today + timedelta(days=2))
        other = new_request("ООО «Другой запрос»", next_step_on=today + timedelta(days=2))
        eve = create_reminder(db.session, petrova, "Накануне", moscow(today + timedelta(days=1), 9), request=request)
        create_reminder(db.session, petrova, "О другом", moscow(today + timedelta(days=2), 9), request=other)
        create_reminder(db.session, sidorov, "Не её", moscow(today + timedelta(days=2), 9), request=request)
        db.session.commit()
        assert offer_for(petrova, request, moscow(today, 10)).existing is None  # another day, request, owner
        on_the_day = create_reminder(db.session, petrova, "Шаг", moscow(today + timedelta(days=2), 11), request=request)
        db.session.commit()
        assert offer_for(petrova, request, moscow(today, 10)).existing.id == on_the_day.id
        on_the_day.done_at = utcnow()  # done: the button is back
        db.session.commit()
        assert offer_for(petrova, request, moscow(today, 10)).existing is None
        # A step already past: a reminder of hers that has fired does not hide the button; one still
        # ahead, set «in an hour», does.
        request.next_step_on = today - timedelta(days=1)
        eve.done_at = utcnow()
        create_reminder(db.session, petrova, "Сработало", moscow(today, 9), request=request)
        db.session.commit()
        assert offer_for(petrova, request, moscow(today, 10)).existing is None
        soon = create_reminder(db.session, petrova, "Через час", moscow(today, 11), request=request)
        db.session.commit()
        assert offer_for(petrova, request, moscow(today, 10)).existing.id == soon.id


def offer_for(owner: CrmUser, request: Request, now: datetime):
    from app.domain.reminders import next_step_reminder

    return next_step_reminder(db.session, owner, request, now)


def test_a_next_step_already_past_offers_a_reminder_in_an_hour_on_the_card(app, client):
    with app.app_context():
        request_id = new_request("ООО «Просрочили»", next_step_on=date.today() - timedelta(days=2)).id
    login(client, "petrova")
    page = client.get(f"/requestview/show/{request_id}").get_data(as_text=True)
    step = page[page.index('class="crm-next-step"') :]
    step = step[: step.index("</dd>")]
    assert "Напомнить через час" in step and 'name="preset" value="in_an_hour"' in step
    assert "в 9:00" not in step
    token = csrf_token(client, f"/requestview/show/{request_id}")
    answer = client.post(
        "/reminders/new",
        data={"csrf_token": token, "request_id": str(request_id), "text": "Шаг", "preset": "in_an_hour"},
    )
    assert answer.status_code == 302
    with app.app_context():
        due = db.session.scalars(select(Reminder.due_at)).one()
        assert abs(as_utc(due) - (utcnow() + timedelta(hours=1))) < timedelta(minutes=2)
    step = client.get(f"/requestview/show/{request_id}").get_data(as_text=True)
    step = step[step.index('class="crm-next-step"') :]
    assert "Напоминание поставлено на" in step[: step.index("</dd>")]


def _start_page_world(app: Flask) -> dict:
    with app.app_context(), app.test_request_context():
        petrova, sidorov = user("petrova"), user("sidorov")
        quiet = new_request("ООО «Тихий клиент»")
        step = new_request(
            "ООО «Шаг сегодня»", next_step_on=date.today() - timedelta(days=1), next_step_text="Перезвонить"
        )
        calm = new_request("ООО «Спокойный»", next_step_on=date.today() + timedelta(days=3))
        foreign = new_request("ООО «Чужой клиент»", username="sidorov")
        quiet_for(quiet.id, 20)
        quiet_for(foreign.id, 20)
        create_reminder(db.session, petrova, "Позвонить в «Тихий»", utcnow() - timedelta(hours=2), request=quiet)
        create_reminder(db.session, petrova, "На следующей неделе", utcnow() + timedelta(days=7))
        create_reminder(db.session, sidorov, "Чужое напоминание", utcnow())
        add_comment(db.session.get(Request, foreign.id), "secret-comment", sidorov)
        add_comment(db.session.get(Request, calm.id), "Клиент думает", petrova)
        db.session.commit()
        return {"quiet": quiet.number, "step": step.number, "calm": calm.number, "foreign": foreign.number}


def test_her_start_page_shows_her_day_and_nothing_of_a_colleague(app, client):
    world = _start_page_world(app)
    login(client, "petrova")
    page = client.get("/").get_data(as_text=True)
    assert "Сегодня" in page
    assert "Позвонить в «Тихий»" in page and "На следующей неделе" not in page and "Чужое напоминание" not in page
    needs = page[page.index('id="today-needs-action"') : page.index('id="today-new"')]
    assert world["quiet"] in needs and world["step"] in needs and world["calm"] not in needs
    assert needs.index(world["step"]) < needs.index(world["quiet"])  # a due next step comes first
    assert 'class="badge crm-count">2<' in needs
    new = page[page.index('id="today-new"') :]
    assert world["calm"] in new
    events = page[page.index('id="today-events"') :]
    assert "Клиент думает" in events
    for secret in ("Чужой клиент", "secret-comment", world["foreign"], "Чужое напоминание"):
        assert secret not in page
    # «Выполнено» and snooze work in place: back on the start page, the reminder is gone.
    with app.app_context():
        reminder_id = db.session.scalars(select(Reminder.id).where(Reminder.text == "Позвонить в «Тихий»")).one()
    token = csrf_token(client, "/")
    answer = client.post(
        f"/reminders/{reminder_id}/move", data={"csrf_token": token, "preset": "next_monday"}, headers={"Referer": "/"}
    )
    assert answer.headers["Location"] == "/"
    assert "Позвонить в «Тихий»" not in client.get("/").get_data(as_text=True)
    # The block's link leads to the full list behind its count.
    listed = client.get("/requestview/list/?attention=needs_action").get_data(as_text=True)
    assert listed.count('class="crm-row"') == 2


def test_new_requests_are_new_since_her_previous_visit(app, client):
    login(client, "petrova")
    client.get("/")
    with app.app_context():
        visit = db.session.get(dashboard.StartPageVisit, user("petrova").id)
        visit.seen_at = utcnow() - timedelta(hours=2)  # she was here two hours ago
        db.session.commit()
        number = new_request("ООО «Новенький»").number
    page = client.get("/").get_data(as_text=True)
    assert number in page[page.index('id="today-new"') :]
    page = client.get("/").get_data(as_text=True)  # a reload is the same visit
    assert number in page[page.index('id="today-new"') :]


def test_the_admin_sees_the_department_and_a_managers_day(app, client):
    world = _start_page_world(app)
    login(client, "admin")
    department = client.get("/").get_data(as_text=True)
    assert "весь отдел" in department
    assert world["foreign"] in department and world["quiet"] in department
    with app.app_context():
        petrova_id = user("petrova").id
    hers = client.get(f"/?manager={petrova_id}").get_data(as_text=True)
    assert world["quiet"] in hers and world["foreign"] not in hers and "Чужое напоминание" not in hers
    # «Все напоминания» under her reminders opens hers, not the administrator's own list.
    block = hers[hers.index('id="today-reminders"') :]
    link = re.search(r'class="crm-block-all" href="([^"]+)"', block).group(1).replace("&amp;", "&")
    assert link == f"/reminders/?owner={petrova_id}"
    listed = client.get(link).get_data(as_text=True)
    assert "Напоминания: Мария Петрова" in listed
    assert "Позвонить в «Тихий»" in listed and "На следующей неделе" in listed
    assert "Чужое напоминание" not in listed
    exported = client.get(f"/reminders/export/?owner={petrova_id}&format=csv-utf8").data.decode("utf-8-sig")
    assert "На следующей неделе" in exported and "Чужое напоминание" not in exported
    department = re.search(
        r'class="crm-block-all" href="([^"]+)"', department[department.index('id="today-reminders"') :]
    )
    assert department.group(1) == "/reminders/?everyone=1"
    assert client.get("/reminders/?owner=987654").status_code == 404
    assert client.get("/reminders/?owner=x1").status_code == 404


def test_a_manager_asking_for_a_colleagues_reminders_gets_her_own(app, client):
    _start_page_world(app)
    with app.app_context():
        sidorov_id = user("sidorov").id
    login(client, "petrova")
    listed = client.get(f"/reminders/?owner={sidorov_id}").get_data(as_text=True)
    assert "Мои напоминания" in listed and "Позвонить в «Тихий»" in listed
    assert "Чужое напоминание" not in listed


def test_a_manager_without_an_agent_is_shown_the_way_to_it_until_she_connects_one(app, client):
    login(client, "petrova")
    page = client.get("/").get_data(as_text=True)
    assert 'class="alert alert-info crm-agent-hint"' in page
    hint = page[page.index("crm-agent-hint") :]
    hint = hint[: hint.index("</div>")]
    assert "Агент" in hint and 'href="/agent-settings/"' in hint
    with app.app_context():
        from app.domain import agent_devices

        agent_devices.connect(db.session, user("petrova"), "Ноутбук Петровой", "1.0")
        db.session.commit()
    assert "crm-agent-hint" not in client.get("/").get_data(as_text=True)
    # The administrator looking at the department (or at her day) is not told about his own Agent.
    client.get("/logout/")
    login(client, "admin")
    with app.app_context():
        sidorov_id = user("sidorov").id
    assert "crm-agent-hint" not in client.get("/").get_data(as_text=True)
    assert "crm-agent-hint" not in client.get(f"/?manager={sidorov_id}").get_data(as_text=True)


def _board_world(app: Flask) -> dict:
    with app.app_context(), app.test_request_context():
        a = new_request("ООО «Альфа»", contract_price=Decimal("100.50"), currency="RUB")
        b = new_request("ООО «Бета»", contract_price=Decimal("200"), currency="RUB")
        c = new_request("ООО «Гамма»", contract_price=Decimal("300"), currency="USD")
        d = new_request("ООО «Дельта»", status=RequestStatus.IN_PROGRESS)
        foreign = new_request("ООО «Чужой клиент»", username="sidorov", contract_price=Decimal("999"))
        return {"a": a.id, "b": b.id, "foreign": foreign.id, "numbers": [r.number for r in (a, b, c, d)]}


def test_the_board_shows_her_cards_in_their_columns_with_counts_and_sums(app, client):
    world = _board_world(app)
    login(client, "petrova")
    page = client.get("/board/").get_data(as_text=True)
    assert "Чужой клиент" not in page and "999" not in page
    preparing = page[page.index('data-status="preparing_offer"') : page.index('data-status="in_progress"')]
    assert 'crm-column-count">3<' in preparing
    assert "300,50\u00a0₽" in preparing and "300,00\u00a0$" in preparing
    assert all(number in page for number in world["numbers"])
    customer = client.get("/board/?customer=бета").get_data(as_text=True)
    assert "ООО «Бета»" in customer and "ООО «Альфа»" not in customer
    by_number = client.get("/board/", query_string={"q": world["numbers"][3]}).get_data(as_text=True)
    assert "ООО «Дельта»" in by_number and "ООО «Бета»" not in by_number
    assert "ООО «Бета»" not in client.get("/board/?from=2000-01-01&to=2000-12-31").get_data(as_text=True)


def test_show_more_loads_the_next_page_of_a_column(app, client):
    from app.views import board

    with app.app_context():
        owner = user("petrova")
        organization = make_organization("ООО «Много запросов»", responsible=owner)
        for _ in range(board.CARDS_PER_PAGE + 3):
            make_request(organization, responsible=owner, author=owner)
    login(client, "petrova")
    page = client.get("/board/").get_data(as_text=True)
    assert page.count("data-move-url=") == board.CARDS_PER_PAGE and "crm-board-more" in page
    more = client.get(f"/board/column/preparing_offer?offset={board.CARDS_PER_PAGE}").get_data(as_text=True)
    assert more.count("data-move-url=") == 3
    assert client.get("/board/column/nonsense").status_code == 404


def test_a_drop_on_the_board_is_the_cards_status_change_with_comment_history_and_event(app, client):
    world = _board_world(app)
    login(client, "petrova")
    token = csrf_token(client, "/board/")
    refused = client.post(
        f"/requestview/status/{world['a']}",
        data={"csrf_token": token, "status": "in_progress", "comment": "  ", "next": "/board/"},
        follow_redirects=True,
    )
    assert "Напишите комментарий" in refused.get_data(as_text=True)
    answer = client.post(
        f"/requestview/status/{world['a']}",
        data={"csrf_token": token, "status": "in_progress", "comment": "Клиент согласовал ТЗ", "next": "/board/?q=x"},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/board/?q=x"
    offsite = client.post(
        f"/requestview/status/{world['b']}",
        data={"csrf_token": token, "status": "dead", "comment": "Ушли к конкурентам", "next": "//evil.example/"},
    )
    assert "evil" not in offsite.headers["Location"]
    with app.app_context():
        request = db.session.get(Request, world["a"])
        assert request.status == "in_progress"
        change = db.session.scalars(
            select(StatusChange).where(StatusChange.request_id == world["a"]).order_by(StatusChange.id.desc())
        ).first()
        assert change.comment == "Клиент согласовал ТЗ" and change.old_value == "preparing_offer"
        event = db.session.scalars(
            select(AgentEvent).where(AgentEvent.request_id == world["a"]).order_by(AgentEvent.id.desc())
        ).first()
        assert "Клиент согласовал ТЗ" in event.message
    foreign = client.post(
        f"/requestview/status/{world['foreign']}",
        data={"csrf_token": token, "status": "dead", "comment": "hijack", "next": "/board/"},
    )
    assert foreign.status_code == 404
