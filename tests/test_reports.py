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
    """ivanov: 4 requests in Q4 (2 won: 100 000 ₽ in 10 days, 5 000 $ in 20 days; 1 lost), 1 in Q3.
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
    with app.app_context():
        report = reports.compute(db.session, user("admin"), Q4)
        total = report.total
        assert (total.received, total.won, total.lost) == (6, 3, 1)
        assert total.conversion == 50.0
        assert total.won_sums == {"RUB": Decimal("150000.00"), "USD": Decimal("5000.00")}
        assert total.average_days_to_win == pytest.approx((10.5 + 20.5 + 4.5) / 3, abs=0.1)
        assert total.stalled_now == 2  # stalled now, whatever their date
        lines = {who.username: figures for who, figures in report.by_manager}
        assert (lines["ivanov"].received, lines["ivanov"].won, lines["ivanov"].lost) == (4, 2, 1)
        assert lines["ivanov"].conversion == 50.0
        assert lines["ivanov"].won_sums == {"RUB": Decimal("100000.00"), "USD": Decimal("5000.00")}
        assert lines["ivanov"].average_days_to_win == pytest.approx(15.5, abs=0.1)
        assert (lines["petrova"].received, lines["petrova"].won, lines["petrova"].stalled_now) == (2, 1, 1)
        assert lines["sidorov"].received == 0 and lines["sidorov"].stalled_now == 1
        assert report.by_status_now == {
            "preparing_offer": 3,
            "in_progress": 0,
            "stalled": 0,
            "completed": 4,
            "dead": 1,
        }
        assert report.by_month == [("2026-10", 1, 1), ("2026-11", 3, 2), ("2026-12", 2, 0)]
        hers = reports.compute(db.session, user("admin"), Q4, manager=user("petrova"))
        assert (hers.total.received, hers.total.won, hers.total.stalled_now) == (2, 1, 1)


def test_the_page_shows_the_figures_and_each_clicks_through_to_its_list(app, client, sales):
    login(client, "ivanov")  # scope "all": the head of sales may be a manager too
    page = client.get("/reports/?from=2026-10-01&to=2026-12-31").get_data(as_text=True)
    assert 'class="h3 crm-figure-received" href="' in page
    assert "150\u00a0000,00\u00a0₽" in page and "5\u00a0000,00\u00a0$" in page
    won_link = "/requestview/list/?received_from=2026-10-01&amp;received_to=2026-12-31&amp;status=completed"
    assert won_link in page
    listed = client.get(won_link.replace("&amp;", "&")).get_data(as_text=True)
    assert listed.count('class="crm-row"') == 3
    received = client.get("/requestview/list/?received_from=2026-10-01&received_to=2026-12-31")
    assert received.get_data(as_text=True).count('class="crm-row"') == 6
    stalled = client.get("/requestview/list/?attention=stalled").get_data(as_text=True)
    assert stalled.count('class="crm-row"') == 2


def test_the_excel_export_carries_the_same_figures(app, client, sales):
    login(client, "admin")
    answer = client.get("/reports/xlsx?from=2026-10-01&to=2026-12-31")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.data))
    sheet = book.worksheets[0]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=4, values_only=True)}
    assert rows["Иван Иванов"][1:5] == (4, 2, 1, 50.0)
    assert rows["Итого"][1:4] == (6, 3, 1)
    assert rows["Итого"][5] == "150000.00 RUB; 5000.00 USD"
    assert [tuple(r) for r in book.worksheets[2].iter_rows(min_row=2, values_only=True)] == [
        ("2026-10", 1, 1),
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
