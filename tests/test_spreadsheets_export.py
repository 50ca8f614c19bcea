"""«Экспорт в Excel»: the file holds exactly the filtered list, with real dates and numbers."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from app.domain.reminders import create_reminder
from app.extensions import db
from app.models import CrmUser
from app.models.stamps import utcnow
from tests.factories import make_organization, make_request


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def _sheet(answer):
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = openpyxl.load_workbook(io.BytesIO(answer.data))
    return workbook.worksheets[0]


def _rows(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def clients_base(app):
    with app.app_context(), app.test_request_context():
        ivanov, petrova = _user("ivanov"), _user("petrova")
        make_organization(
            "ООО «Альфа»",
            inn="0012345678",
            city="Москва",
            phones="+7 495 111-22-33",
            responsible=ivanov,
            contacts=[{"full_name": "Алексеев Антон", "position": "Директор", "is_primary": True}],
        )
        make_organization("ООО «Бета»", city="Казань", responsible=petrova)
        make_organization('=HYPERLINK("http://evil","клик")', city="Москва", notes="+1-2", responsible=ivanov)
        gamma = make_organization("ООО «Гамма»", city="Москва", email="@gamma", responsible=petrova)
        make_request(gamma, responsible=petrova, contract_price=Decimal("1234567.50"), request_date=date(2026, 3, 4))
    return None


def test_organisations_export_is_the_filtered_list_cell_by_cell(app, admin_client, clients_base):
    answer = admin_client.get("/organizationview/export/", query_string={"q": "москва", "format": "xlsx"})
    sheet = _sheet(answer)
    rows = _rows(sheet)
    assert rows[0] == [
        "Название",
        "ИНН",
        "Отрасль",
        "Город",
        "Адрес",
        "Телефоны",
        "E-mail",
        "Сайт",
        "Ответственный менеджер",
        "Когда создано",
        "Примечания",
    ]
    names = [row[0] for row in rows[1:]]
    # The quick search for Moscow, in the list's order (by name): Kazan's «Бета» is not there.
    assert names == sorted(names) and set(names) == {"ООО «Альфа»", "ООО «Гамма»", '=HYPERLINK("http://evil","клик")'}
    alpha = next(row for row in rows[1:] if row[0] == "ООО «Альфа»")
    assert alpha[1] == "0012345678"  # text: the leading zeros stay
    assert alpha[8] == "Иванов Иван"
    assert isinstance(alpha[9], datetime)  # a real Excel date, not text
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width == 40


def test_text_that_looks_like_a_formula_stays_text(app, admin_client, clients_base):
    sheet = _sheet(admin_client.get("/organizationview/export/", query_string={"q": "hyperlink"}))
    cell = sheet["A2"]
    assert cell.value == '=HYPERLINK("http://evil","клик")'
    assert cell.data_type == "s" and cell.quotePrefix
    assert sheet["K2"].value == "+1-2" and sheet["K2"].data_type == "s" and sheet["K2"].quotePrefix
    text = admin_client.get("/organizationview/export/", query_string={"q": "hyperlink", "format": "csv"})
    rows = list(csv.reader(io.StringIO(text.data.decode("cp1251")), delimiter=";"))
    assert rows[1][0] == '\'=HYPERLINK("http://evil","клик")'


def test_requests_export_has_dates_and_money_as_numbers(app, admin_client, clients_base):
    sheet = _sheet(admin_client.get("/requestview/export/", query_string={"status": "preparing_offer"}))
    header, row = _rows(sheet)
    assert header[0] == "Дата" and header[6] == "Цена контракта"
    assert row[0] == datetime(2026, 3, 4, 0, 0)  # openpyxl reads a date cell back as a datetime
    assert sheet["A2"].is_date and sheet["A2"].number_format == "DD.MM.YYYY"
    assert row[6] == 1234567.5 and sheet["G2"].data_type == "n"
    assert row[2] == "ООО «Гамма»" and row[4] == "Подготовка предложения"


def test_csv_in_windows_1251_and_utf8(app, admin_client, clients_base):
    cp1251 = admin_client.get("/contactview/export/", query_string={"format": "csv"})
    assert cp1251.status_code == 200 and "windows-1251" in cp1251.headers["Content-Type"]
    rows = list(csv.reader(io.StringIO(cp1251.data.decode("cp1251")), delimiter=";"))
    assert rows[0][0] == "ФИО"
    assert rows[1][0] == "Алексеев Антон" and rows[1][5] == "Да" and rows[1][6] == "ООО «Альфа»"
    utf8 = admin_client.get("/contactview/export/", query_string={"format": "csv-utf8"})
    assert utf8.data.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(utf8.data.decode("utf-8-sig")), delimiter=";")) == rows
    assert "attachment" in utf8.headers["Content-Disposition"]


def test_export_follows_the_chosen_order_and_search_panel_filters(app, admin_client, clients_base):
    answer = admin_client.get(
        "/organizationview/export/",
        query_string={"_oc_OrganizationView": "name", "_od_OrganizationView": "desc", "_flt_0_city": "Москва"},
    )
    names = [row[0] for row in _rows(_sheet(answer))[1:]]
    assert names == sorted(names, reverse=True) and len(names) == 3


def test_a_list_longer_than_the_limit_is_refused_with_a_message(app, admin_client, clients_base, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_MAX_ROWS", 2)
    answer = admin_client.get("/organizationview/export/", query_string={"q": "москва"})
    assert answer.status_code == 302 and "q=" in answer.headers["Location"]
    page = admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "можно выгрузить не больше 2" in page


def test_reminders_export_lists_the_pages_reminders(app, client, clients_base):
    from tests.conftest import login

    with app.app_context():
        petrova = _user("petrova")
        create_reminder(db.session, petrova, "Позвонить в «Бету»", utcnow())
        create_reminder(db.session, _user("ivanov"), "Чужое напоминание", utcnow())
        db.session.commit()
    login(client, "petrova")
    rows = _rows(_sheet(client.get("/reminders/export/")))
    assert rows[0][:2] == ["Когда", "Что сделать"]
    assert [row[1] for row in rows[1:]] == ["Позвонить в «Бету»"]
    assert isinstance(rows[1][0], datetime)


def test_the_lists_offer_the_export_button(app, admin_client, clients_base):
    for url in ["/organizationview/list/?q=москва", "/contactview/list/", "/requestview/list/", "/reminders/"]:
        page = admin_client.get(url).get_data(as_text=True)
        assert "Экспорт в Excel" in page, url
    page = admin_client.get("/organizationview/list/?q=москва").get_data(as_text=True)
    link = re.search(r'href="(/organizationview/export/\?[^"]*format=xlsx)"', page).group(1)
    sheet = _sheet(admin_client.get(html.unescape(link)))
    assert sheet.max_row == 4  # the three Moscow clients the page shows, under the header


def test_the_requests_export_takes_a_russian_price_filter_and_refuses_a_hand_edited_sort(app, admin_client):
    with app.app_context():
        organization = make_organization("ООО Цена Вопроса")
        make_request(organization, contract_price=Decimal("1250000.50"))
        make_request(organization, contract_price=Decimal("900"))
    answer = admin_client.get(
        "/requestview/export/", query_string={"_flt_0_contract_price": "1 250 000,50", "q": "Цена Вопроса"}
    )
    rows = _rows(_sheet(answer))
    price_column = rows[0].index("Цена контракта")
    assert [row[price_column] for row in rows[1:]] == [1250000.5]
    refused = admin_client.get(
        "/requestview/export/", query_string={"_oc_RequestView": "organization", "_od_RequestView": "asc"}
    )
    assert refused.status_code == 400
    assert "Список нельзя сортировать по «organization»" in html.unescape(refused.get_data(as_text=True))
