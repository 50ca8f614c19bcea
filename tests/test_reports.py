"""The head of sales' reports, each figure checked against a hand-made set of requests."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from app.domain import reports
from app.domain.requests import change_status
from app.extensions import db
from app.models import CrmUser, Request, RequestStatus, StatusChange
from app.models.stamps import utcnow
from tests.conftest import login
from tests.factories import make_organization, make_request

Q4 = reports.Period(date(2026, 10, 1), date(2026, 12, 31))


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def received(username: str, on: date, price: str | None = None, currency: str = "RUB", name: str = "") -> Request:
    owner = user(username)
    organization = make_organization(name or f"ООО «{username} {on} {price} {currency}»", responsible=owner)
    return make_request(
        organization,
        responsible=owner,
        author=owner,
        request_date=on,
        contract_price=Decimal(price) if price else None,
        currency=currency,
    )


def close(request: Request, status: RequestStatus, on: datetime) -> None:
    change_status(request, status, "Итог", None)
    db.session.commit()
    db.session.execute(
        update(StatusChange)
        .where(StatusChange.request_id == request.id, StatusChange.new_value == status.value)
        .values(changed_on=on)
    )
    db.session.commit()


@pytest.fixture
def sales(app):
    """ivanov: 4 requests received in Q4 (2 won: 100 000 ₽ in 10 days, 5 000 $ in 20 days; 1 lost);
    received in Q3: one won in Q4 (999 999 ₽ in 2 days), one won in Q4 and reopened since, one won in Q3.
    petrova: 2 in Q4 (1 won: 50 000 ₽ in 4 days), one of them stalled; sidorov: 1 stalled, in Q3."""
    with app.app_context(), app.test_request_context():
        a = received("ivanov", date(2026, 10, 5), "100000")
        close(a, RequestStatus.COMPLETED, datetime(2026, 10, 15, 12, 0, tzinfo=utcnow().tzinfo))
        b = received("ivanov", date(2026, 11, 1), "5000", "USD")
        close(b, RequestStatus.COMPLETED, datetime(2026, 11, 21, 12, 0, tzinfo=utcnow().tzinfo))
        c = received("ivanov", date(2026, 11, 2), "7000")
        close(c, RequestStatus.DEAD, datetime(2026, 11, 10, tzinfo=utcnow().tzinfo))
        received("ivanov", date(2026, 12, 1))
        old = received("ivanov", date(2026, 9, 30), "999999")
        close(old, RequestStatus.COMPLETED, datetime(2026, 10, 2, tzinfo=utcnow().tzinfo))
        reopened = received("ivanov", date(2026, 9, 20), "333")
        close(reopened, RequestStatus.COMPLETED, datetime(2026, 10, 20, tzinfo=utcnow().tzinfo))
        close(reopened, RequestStatus.IN_PROGRESS, datetime(2026, 10, 25, tzinfo=utcnow().tzinfo))
        early = received("ivanov", date(2026, 8, 1), "444")
        close(early, RequestStatus.COMPLETED, datetime(2026, 9, 15, tzinfo=utcnow().tzinfo))
        p = received("petrova", date(2026, 11, 10), "50000")
        close(p, RequestStatus.COMPLETED, datetime(2026, 11, 14, 12, 0, tzinfo=utcnow().tzinfo))
        quiet = received("petrova", date(2026, 12, 1))
        sid = received("sidorov", date(2026, 9, 1))
        db.session.execute(
            update(Request)
            .where(Request.id.in_([quiet.id, sid.id]))
            .values(last_activity_at=utcnow() - timedelta(days=30))
        )
        db.session.commit()


def test_each_figure_matches_the_hand_made_sales(app, sales):
    """Won and lost count in the quarter of the win or the loss: issue 14 asks "who won what this
    quarter". The deal received in Q3 and won in Q4 is Q4's win (this test asserted the opposite
    while the period was a cohort of received requests); the one reopened since is nobody's win."""
    with app.app_context():
        report = reports.compute(db.session, user("admin"), Q4)
        total = report.total
        assert (total.received, total.won, total.lost) == (6, 4, 1)
        assert total.won_of_received == 3  # of the 6 received in Q4, 3 are won
        assert total.conversion == 50.0
        assert total.won_sums == {"RUB": Decimal("1149999.00"), "USD": Decimal("5000.00")}
        assert total.average_days_to_win == pytest.approx((10.5 + 20.5 + 2.0 + 4.5) / 4, abs=0.1)
        assert total.stalled_now == 2  # stalled now, whatever their date
        lines = {who.username: figures for who, figures in report.by_manager}
        assert (lines["ivanov"].received, lines["ivanov"].won, lines["ivanov"].lost) == (4, 3, 1)
        assert lines["ivanov"].won_of_received == 2 and lines["ivanov"].conversion == 50.0
        assert lines["ivanov"].won_sums == {"RUB": Decimal("1099999.00"), "USD": Decimal("5000.00")}
        assert lines["ivanov"].average_days_to_win == pytest.approx(11.0, abs=0.1)
        assert (lines["petrova"].received, lines["petrova"].won, lines["petrova"].stalled_now) == (2, 1, 1)
        assert lines["sidorov"].received == 0 and lines["sidorov"].stalled_now == 1
        assert report.by_status_now == {
            "preparing_offer": 3,
            "in_progress": 1,
            "stalled": 0,
            "completed": 5,
            "dead": 1,
        }
        # Received by the request's month, won by the month of the win.
        assert report.by_month == [("2026-10", 1, 2), ("2026-11", 3, 2), ("2026-12", 2, 0)]
        hers = reports.compute(db.session, user("admin"), Q4, manager=user("petrova"))
        assert (hers.total.received, hers.total.won, hers.total.stalled_now) == (2, 1, 1)
        q3 = reports.compute(db.session, user("admin"), reports.Period(date(2026, 7, 1), date(2026, 9, 30)))
        # Won in Q3: only the early one; of the 4 received in Q3, two are won (one of them in Q4).
        assert (q3.total.received, q3.total.won, q3.total.won_of_received) == (4, 1, 2)


def test_the_page_shows_the_figures_and_each_clicks_through_to_its_list(app, client, sales):
    login(client, "ivanov")  # scope "all": the head of sales may be a manager too
    page = client.get("/reports/?from=2026-10-01&to=2026-12-31").get_data(as_text=True)
    assert 'class="h3 crm-figure-received" href="' in page
    assert "1\u00a0149\u00a0999,00\u00a0₽" in page and "5\u00a0000,00\u00a0$" in page
    assert "Конверсия полученных" in page
    won = "/requestview/list/?closed_from=2026-10-01&amp;closed_to=2026-12-31&amp;status=completed"
    lost = "/requestview/list/?closed_from=2026-10-01&amp;closed_to=2026-12-31&amp;status=dead"
    of_received = "/requestview/list/?received_from=2026-10-01&amp;received_to=2026-12-31&amp;status=completed"
    received = "/requestview/list/?received_from=2026-10-01&amp;received_to=2026-12-31"
    figures = {
        "crm-figure-received": received,
        "crm-figure-won": won,
        "crm-figure-lost": lost,
        "crm-figure-conversion": of_received,
        "crm-figure-days": won,
    }
    for css_class, link in figures.items():
        assert f'class="h3 {css_class}" href="{link}"' in page, css_class
    assert f'class="crm-sum" href="{won}"' in page  # the won sums open the won list
    for link, rows in [(won, 4), (lost, 1), (of_received, 3), (received, 6)]:
        listed = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
        assert listed.count('class="crm-row"') == rows, link
    with app.app_context():
        ivanov_id = user("ivanov").id
    his_won = f"{won}&amp;responsible={ivanov_id}"
    assert f'href="{his_won}"' in page
    assert client.get(his_won.replace("&amp;", "&")).get_data(as_text=True).count('class="crm-row"') == 3
    # A month of the chart: received in it, and won in it.
    october_won = "/requestview/list/?closed_from=2026-10-01&amp;closed_to=2026-10-31&amp;status=completed"
    assert october_won in page
    assert client.get(october_won.replace("&amp;", "&")).get_data(as_text=True).count('class="crm-row"') == 2
    stalled = client.get("/requestview/list/?attention=stalled").get_data(as_text=True)
    assert stalled.count('class="crm-row"') == 2


def test_a_win_counts_on_its_day_in_the_users_time_zone(app):
    """Moscow's 31 December 23:30 is still Q4; its 1 January 00:30 (21:30 UTC on the 31st) is not."""
    with app.app_context(), app.test_request_context():
        late = received("ivanov", date(2026, 12, 1), "10")
        close(late, RequestStatus.COMPLETED, datetime(2026, 12, 31, 20, 30, tzinfo=utcnow().tzinfo))
        next_year = received("ivanov", date(2026, 12, 2), "20")
        close(next_year, RequestStatus.COMPLETED, datetime(2026, 12, 31, 21, 30, tzinfo=utcnow().tzinfo))
        report = reports.compute(db.session, user("admin"), Q4)
        assert (report.total.received, report.total.won, report.total.won_sums) == (2, 1, {"RUB": Decimal("10.00")})
        assert report.by_month == [("2026-12", 2, 1)]
        january = reports.compute(db.session, user("admin"), reports.Period(date(2027, 1, 1), date(2027, 1, 31)))
        assert (january.total.received, january.total.won) == (0, 1)


def test_the_row_without_a_responsible_clicks_through_too(app, client):
    with app.app_context(), app.test_request_context():
        organization = make_organization("ООО «Ничей»")
        make_request(organization, request_date=date(2026, 11, 3), author=None)
        received("ivanov", date(2026, 11, 4))
    login(client, "admin")
    page = client.get("/reports/?from=2026-10-01&to=2026-12-31").get_data(as_text=True)
    row = page[page.index("Без ответственного") :]
    link = "/requestview/list/?received_from=2026-10-01&amp;received_to=2026-12-31&amp;unassigned=1"
    assert f'href="{link}"' in row[: row.index("</tr>")]
    listed = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert listed.count('class="crm-row"') == 1 and "ООО «Ничей»" in listed


def test_the_excel_export_carries_the_same_figures(app, client, sales):
    login(client, "admin")
    answer = client.get("/reports/xlsx?from=2026-10-01&to=2026-12-31")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.data))
    sheet = book.worksheets[0]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert rows["Иван Иванов"][1:5] == (4, 3, 1, 50.0)
    assert rows["Итого"][1:4] == (6, 4, 1)
    assert rows["Итого"][5] == "1149999.00 RUB; 5000.00 USD"
    assert [tuple(r) for r in book.worksheets[2].iter_rows(min_row=2, values_only=True)] == [
        ("2026-10", 1, 2),
        ("2026-11", 3, 2),
        ("2026-12", 2, 0),
    ]


def test_a_manager_with_own_scope_gets_no_reports(app, client, sales):
    login(client, "petrova")
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/xlsx").status_code == 403
    assert "crm-reports-link" not in client.get("/").get_data(as_text=True)


def test_a_name_that_looks_like_a_formula_is_exported_as_text(app):
    from types import SimpleNamespace

    from app.views.reports import _workbook

    sly = SimpleNamespace(get_full_name=lambda: '=HYPERLINK("http://evil.example","Иванов")')
    report = reports.Report(Q4, None, reports.Figures(1), [(sly, reports.Figures(1))], {}, [])
    with app.test_request_context():
        content = io.BytesIO()
        _workbook(report).save(content)
    cell = load_workbook(io.BytesIO(content.getvalue())).worksheets[0]["A4"]
    assert cell.value == '=HYPERLINK("http://evil.example","Иванов")' and cell.data_type == "s"


def test_the_menu_offers_reports_and_import_only_to_whom_they_serve(app, client):
    """Petrova (scope "own") would only be refused there: the menu does not show her the entries."""
    for username, shown in [("admin", True), ("ivanov", True), ("petrova", False)]:
        login(client, username)
        page = client.get("/requestview/list/").get_data(as_text=True)
        assert ('href="/reports/"' in page) is shown, username
        assert ('href="/imports/"' in page) is shown, username
        client.get("/logout/")
