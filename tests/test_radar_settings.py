"""«Настройки → Радар застоя»: the administrator moves the stalled line and switches the radar's
reminders in the product, every page and the radar job follow at once, bad numbers are refused in
Russian, and reading the setting costs a page no SQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select, update

from app.domain import department_settings
from app.extensions import db
from app.jobs.radar import sweep_stalled_requests
from app.models import CrmUser, DepartmentSettings, Reminder, Request
from app.models.stamps import utcnow
from tests.conftest import csrf_token, login
from tests.factories import make_organization, make_request
from tests.test_list_queries import statements_of


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def _quiet_request(app, days: int, name: str = "ООО «Тихая гавань»") -> str:
    """Петрова's open request with no activity for `days` days; its number."""
    with app.app_context(), app.test_request_context():
        petrova = _user("petrova")
        request = make_request(make_organization(name, responsible=petrova), responsible=petrova)
        db.session.execute(
            update(Request).where(Request.id == request.id).values(last_activity_at=utcnow() - timedelta(days=days))
        )
        db.session.commit()
        return request.number


def _save(client, days: str, reminders: bool = False):
    form = {"csrf_token": csrf_token(client, "/radar-settings/"), "stalled_after_days": days}
    if reminders:
        form["reminders"] = "y"
    return client.post("/radar-settings/", data=form)


def _last_change(page: str) -> str:
    """The page's line naming the last saved change (the navbar also holds the admin's name)."""
    return re.search(r'<p class="text-muted crm-radar-changed">(.*?)</p>', page, re.S).group(1)


def _needs_action(page: str) -> str:
    return page[page.index('id="today-needs-action"') : page.index('id="today-new"')]


def test_the_administrator_moves_the_stalled_line_and_every_page_follows(app, admin_client):
    number = _quiet_request(app, days=10)
    page = admin_client.get("/radar-settings/").get_data(as_text=True)
    assert "Радар застоя" in page and 'value="14"' in page
    assert "Ещё не менялись" in _last_change(page)
    assert number not in _needs_action(admin_client.get("/").get_data(as_text=True))

    answer = _save(admin_client, "7")
    assert answer.status_code == 302 and answer.headers["Location"] == "/radar-settings/"
    page = admin_client.get("/radar-settings/").get_data(as_text=True)
    assert "Сохранено" in page and 'value="7"' in page
    assert re.fullmatch(r"\s*Изменено \d\d\.\d\d\.\d{4} \d\d:\d\d, Администратор\.\s*", _last_change(page))
    today = admin_client.get("/").get_data(as_text=True)
    assert number in _needs_action(today) and "7 дн." in today
    assert number in admin_client.get("/requestview/list/?attention=stalled").get_data(as_text=True)
    # Another browser (any web worker) sees the same line: it is stored, not remembered by one process.
    petrova = app.test_client()
    login(petrova, "petrova")
    assert number in _needs_action(petrova.get("/").get_data(as_text=True))
    with app.app_context():
        row = db.session.get(DepartmentSettings, department_settings.ROW_ID)
        assert (row.stalled_after_days, row.stalled_radar_reminders) == (7, False)


@pytest.mark.parametrize("typed", ["0", "366", "abc", "", "7.5", "-3", "１４", "1e3"])
def test_a_number_of_days_that_cannot_be_is_refused_in_russian_and_nothing_changes(app, admin_client, typed):
    assert _save(admin_client, "21").status_code == 302
    answer = _save(admin_client, typed, reminders=True)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Введите целое число дней от 1 до 365." in page
    assert f'value="{typed}"' in page  # what he typed stays in the box to correct
    assert "Администратор" in _last_change(page)  # the last saved change is still named
    with app.app_context():
        assert department_settings.radar_settings().stalled_after_days == 21
        assert department_settings.radar_settings().reminders is False


def test_the_reminders_switch_on_the_page_drives_the_radar_job(app, admin_client):
    _quiet_request(app, days=20)
    with app.app_context():
        assert sweep_stalled_requests() == 0  # off by default
    assert _save(admin_client, "14", reminders=True).status_code == 302
    assert 'name="reminders" value="y" id="reminders" checked' in admin_client.get("/radar-settings/").get_data(
        as_text=True
    )
    with app.app_context():
        assert sweep_stalled_requests() == 1
        assert db.session.scalar(select(func.count()).select_from(Reminder)) == 1
    _quiet_request(app, days=20, name="ООО «Вторая тишина»")
    assert _save(admin_client, "14").status_code == 302
    with app.app_context():
        assert sweep_stalled_requests() == 0


def test_managers_cannot_open_or_change_the_settings(app, client):
    for username in ("ivanov", "petrova"):
        login(client, username)
        assert client.get("/radar-settings/").status_code in (302, 403, 404)
        token = csrf_token(client, "/reminders/new")
        answer = client.post("/radar-settings/", data={"csrf_token": token, "stalled_after_days": "1"})
        assert answer.status_code in (302, 403, 404)
        client.get("/logout/")
    with app.app_context():
        assert db.session.get(DepartmentSettings, department_settings.ROW_ID) is None


def test_reading_the_setting_costs_a_page_no_sql_and_survives_redis_losing_it(app, admin_client):
    _quiet_request(app, days=10)
    before = statements_of(app, admin_client, "/requestview/list/")
    assert _save(admin_client, "7").status_code == 302
    after = statements_of(app, admin_client, "/requestview/list/")
    assert len(after) == len(before)
    assert not [s for s in after if "department_settings" in s]
    Redis.from_url(app.config["REDIS_URL"]).delete(department_settings.CACHE_KEY)  # flushed, evicted
    with app.app_context():
        assert department_settings.radar_settings().stalled_after_days == 7  # read back from the database
