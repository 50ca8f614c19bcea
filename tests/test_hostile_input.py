"""Hostile and careless input: every defect found by the probe run, as one example each.

A manager types a price with spaces and a comma, pastes text with a NUL byte, edits a URL by hand
or sends JSON that is not an object: she gets a clear Russian message and a 4xx, never a 500, and
no answer ever carries database text, SQL or another manager's data.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import CrmUser, Organization, Reminder, Request
from app.normalize import name_key
from tests.conftest import api_token, csrf_token
from tests.test_access import petrova, world  # noqa: F401  (fixtures: her world of shared clients)

HUGE = 2**63
COLLEAGUE_SECRETS = ["secret-equipment", "Чужой", "Failing row", "DETAIL", "INSERT", "UPDATE", "DELETE FROM", "SELECT"]


@pytest.fixture
def her_api(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(client, 'petrova')}"}


@pytest.fixture
def admin_api(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(client, 'admin')}"}


def assert_clean_4xx(answer, *forbidden: str) -> None:
    """A refusal a person can read: 4xx, and neither database text nor a colleague's data."""
    body = answer.get_data(as_text=True)
    assert 400 <= answer.status_code < 500, (answer.status_code, body[:500])
    for secret in (*COLLEAGUE_SECRETS, "sqlalchemy", "psycopg", "sqlite3", "Traceback", *forbidden):
        assert secret.lower() not in body.lower(), (secret, body[:500])


def assert_json_4xx(answer, *forbidden: str) -> dict:
    assert_clean_4xx(answer, *forbidden)
    assert answer.is_json, answer.get_data(as_text=True)[:300]
    return answer.get_json()


# --- 1. No database text in any answer --------------------------------------------------------


def test_deleting_a_shared_organisation_never_shows_the_colleagues_request(app, client, world, her_api):  # noqa: F811
    """Her own request sits in Сидоров's organisation; deleting the organisation must not answer
    with the database's «Failing row contains (…)» that lists the request's number and terms."""
    with app.app_context():
        req = db.session.get(Request, world["shared_request"])
        req.payment_terms = "secret-terms"
        req.contract_number = "secret-contract"
        db.session.commit()
    answer = client.delete(f"/api/v1/organization/{world['shared_org']}", headers=her_api)
    if answer.status_code != 404:  # the access policy may refuse first; then there is nothing to leak
        assert_json_4xx(answer, "secret-terms", "secret-contract", world["shared_request_number"])


def test_deleting_an_organisation_with_requests_as_admin_shows_no_database_text(app, client, world, admin_api):  # noqa: F811
    with app.app_context():
        req = db.session.get(Request, world["request"])
        req.payment_terms = "secret-terms"
        db.session.commit()
    answer = client.delete(f"/api/v1/organization/{world['org']}", headers=admin_api)
    body = assert_json_4xx(answer, "secret-terms", world["request_number"])
    assert any(ch in json.dumps(body, ensure_ascii=False) for ch in "абвгдеёжзийклмнопрстуфхцчшщыэюя")
    with app.app_context():
        assert db.session.get(Organization, world["org"]) is not None


def test_a_duplicate_on_add_is_a_clear_message_not_sql(app, client, world, her_api):  # noqa: F811
    """Two contacts cannot both be primary, or the like: whatever the constraint, no SQL."""
    answer = client.post(
        "/api/v1/organization/", json={"name": "ООО «Свой клиент»", "inn": "7701234567"}, headers=her_api
    )
    assert_json_4xx(answer)


# --- 1b. A write the database refuses: two managers save the same client at the same moment ---------


@contextmanager
def a_colleague_saves_the_same_client_first(app: Flask, name: str) -> Iterator[list[str]]:
    """Between the duplicate-name check (app/validation.py) and the commit, another worker saves an
    organisation of the same name over its own connection: the check passed, the unique key on
    `name_key` refuses the second insert (or rename) with a real IntegrityError from the database."""
    saved: list[str] = []

    def colleague_first(session, _flush_context, _instances) -> None:
        if saved or not any(isinstance(obj, Organization) for obj in (*session.new, *session.dirty)):
            return
        saved.append(name)
        with db.engine.connect() as other:
            sidorov = other.execute(select(CrmUser.id).where(CrmUser.username == "sidorov")).scalar_one()
            other.execute(
                insert(Organization.__table__).values(
                    name=name,
                    name_key=name_key(name),
                    sort_key=name,
                    search_text=name.casefold(),
                    responsible_id=sidorov,
                )
            )
            other.commit()

    event.listen(Session, "before_flush", colleague_first)
    try:
        yield saved
    finally:
        event.remove(Session, "before_flush", colleague_first)


def _reference(text: str) -> str:
    found = re.findall(r"E-[0-9A-F]{8}", text)
    assert found, text[:500]
    return found[0]


DATABASE_WORDS = [
    "IntegrityError",
    "UNIQUE",
    "unique constraint",
    "duplicate key",
    "name_key",
    "organization.",
    "[SQL",
    "parameters",
]


def test_a_client_saved_twice_at_once_by_rest_is_refused_in_russian(app, client, world, her_api, caplog):  # noqa: F811
    with a_colleague_saves_the_same_client_first(app, "ООО «Гонка»") as saved:
        answer = client.post("/api/v1/organization/", json={"name": "ООО «Гонка»", "city": "Тверь"}, headers=her_api)
    assert saved, "the colleague's insert did not run: the test proves nothing"
    body = assert_json_4xx(answer, *DATABASE_WORDS)
    assert answer.status_code in (409, 422), answer.status_code
    assert "Не сохранено" in body["message"], body
    reference = _reference(body["message"])
    assert body["reference"] == reference
    assert reference in caplog.text and "IntegrityError" in caplog.text  # the details are in the log
    with app.app_context():
        names = db.session.scalars(select(Organization.city).where(Organization.name == "ООО «Гонка»")).all()
        assert names == [None]  # the colleague's only


def test_a_client_saved_twice_at_once_by_the_form_keeps_what_she_typed(app, petrova, world, caplog):  # noqa: F811
    """FAB flashed the driver's text (the SQL with its parameters) and dropped the form."""
    token = csrf_token(petrova, "/organizationview/add")
    typed = {
        "name": "ООО «Гонка»",
        "city": "Тверь",
        "notes": "Позвонить после обеда",
        "responsible": _her_id(app),
        "new_contacts-0-full_name": "Гонщиков Кирилл",
        "csrf_token": token,
    }
    with a_colleague_saves_the_same_client_first(app, "ООО «Гонка»") as saved:
        answer = petrova.post("/organizationview/add", data=typed)
    assert saved
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, (answer.status_code, answer.headers.get("Location"))
    assert "Не сохранено" in page
    reference = _reference(page)
    assert reference in caplog.text
    for secret in (*DATABASE_WORDS, "sqlalchemy", "psycopg", "sqlite3", "INSERT"):
        assert secret not in page, secret
    for value in ("ООО «Гонка»", "Тверь", "Позвонить после обеда", "Гонщиков Кирилл"):
        assert html.escape(value, quote=False) in page or value in page, value  # the form as she filled it
    with app.app_context():
        assert db.session.scalars(select(Organization.city).where(Organization.name == "ООО «Гонка»")).all() == [None]


def test_a_rename_that_races_a_colleague_keeps_the_edit_form(app, petrova, world, caplog):  # noqa: F811
    """FAB flashed «Database Error» in English and dropped the edit."""
    token = csrf_token(petrova, f"/organizationview/edit/{world['own_org']}")
    typed = {"name": "ООО «Новое имя»", "city": "Тверь", "responsible": _her_id(app), "csrf_token": token}
    with a_colleague_saves_the_same_client_first(app, "ООО «Новое имя»") as saved:
        answer = petrova.post(f"/organizationview/edit/{world['own_org']}", data=typed)
    assert saved
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, (answer.status_code, answer.headers.get("Location"))
    assert "Не сохранено" in page and _reference(page) in caplog.text
    assert html.escape("ООО «Новое имя»", quote=False) in page or "ООО «Новое имя»" in page
    assert "Тверь" in page
    for secret in (*DATABASE_WORDS, "Database Error", "UPDATE"):
        assert secret not in page, secret
    with app.app_context():
        assert db.session.get(Organization, world["own_org"]).name == "ООО «Свой клиент»"


# --- 6. Validation: one rule, both transports -----------------------------------------------------


@pytest.mark.parametrize(
    "price", [-1, "NaN", "Infinity", "-Infinity", 1e20, 1e300, 0.001, "12,345.678", "9" * 60, "abc", True]
)
def test_a_price_that_is_not_money_is_refused_by_rest(app, client, world, her_api, price):  # noqa: F811
    answer = client.put(f"/api/v1/request/{world['own_request']}", json={"contract_price": price}, headers=her_api)
    body = assert_json_4xx(answer)
    assert "contract_price" in json.dumps(body["message"]), body
    with app.app_context():
        assert db.session.get(Request, world["own_request"]).contract_price is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("1 250 000,50", "1250000.50"),
        ("1250000,50", "1250000.50"),
        ("1\u00a0250\u00a0000,50", "1250000.50"),
        ("1\u2009250\u2009000,5", "1250000.50"),
        ("1250000.50", "1250000.50"),
        (1250000.5, "1250000.50"),
    ],
)
def test_russian_money_is_accepted_by_rest(app, client, world, her_api, typed, stored):  # noqa: F811
    answer = client.put(f"/api/v1/request/{world['own_request']}", json={"contract_price": typed}, headers=her_api)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    with app.app_context():
        assert str(db.session.get(Request, world["own_request"]).contract_price) == stored


@pytest.mark.parametrize("currency", ["", "ZZZ", "€€€", "rub", None])
def test_currency_is_a_choice_on_rest(app, client, world, her_api, currency):  # noqa: F811
    answer = client.put(f"/api/v1/request/{world['own_request']}", json={"currency": currency}, headers=her_api)
    assert_json_4xx(answer)
    with app.app_context():
        assert db.session.get(Request, world["own_request"]).currency == "RUB"


def test_currency_choice_accepts_the_known_ones(app, client, world, her_api):  # noqa: F811
    answer = client.put(f"/api/v1/request/{world['own_request']}", json={"currency": "CNY"}, headers=her_api)
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("quantity", [1.5, 0, -1, "2,5", "1.5", "abc", HUGE, True])
def test_item_quantity_must_be_a_positive_whole_number(app, client, world, her_api, quantity):  # noqa: F811
    answer = client.put(
        f"/api/v1/request/{world['own_request']}/items",
        json={"items": [{"equipment_type": "Насос", "quantity": quantity}]},
        headers=her_api,
    )
    assert_json_4xx(answer)


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "\x07bell", "\u200b"])
@pytest.mark.parametrize("route", ["comments", "status", "delivery"])
def test_blank_or_control_character_comments_are_refused(app, client, world, her_api, route, text):  # noqa: F811
    body = {"comments": {"text": text}, "status": {"status": "stalled", "comment": text}}.get(
        route, {"delivery_status": "shipped", "comment": text}
    )
    answer = client.post(f"/api/v1/request/{world['own_request']}/{route}", json=body, headers=her_api)
    assert_json_4xx(answer)
    with app.app_context():
        req = db.session.get(Request, world["own_request"])
        assert req.status == "preparing_offer" and req.delivery_status == "not_started"


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/organization/{own_org}", {"name": ""}),
        ("/api/v1/organization/{own_org}", {"name": "   "}),
        ("/api/v1/organization/{own_org}", {"name": None}),
    ],
)
def test_required_text_emptied_by_rest_is_refused(app, client, world, her_api, url, body):  # noqa: F811
    answer = client.put(url.format(**world), json=body, headers=her_api)
    assert_json_4xx(answer)
    with app.app_context():
        assert db.session.get(Organization, world["own_org"]).name == "ООО «Свой клиент»"


def test_reminder_text_emptied_by_rest_is_refused(app, client, world, her_api):  # noqa: F811
    created = client.post(
        "/api/v1/reminder/", json={"text": "Позвонить", "due_at": "2030-01-01T10:00:00+03:00"}, headers=her_api
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    answer = client.put(f"/api/v1/reminder/{created.get_json()['id']}", json={"text": ""}, headers=her_api)
    assert_json_4xx(answer)


@pytest.mark.parametrize("related", [1.5, "1.5", "abc", HUGE, -1, [1], {"id": 1}])
def test_a_related_id_that_is_not_an_id_is_refused(app, client, world, her_api, related):  # noqa: F811
    answer = client.post(
        "/api/v1/contact/", json={"organization": related, "full_name": "Новый Контакт"}, headers=her_api
    )
    assert_json_4xx(answer)


def test_a_fractional_related_id_is_not_rounded_to_another_record(app, client, world, her_api):  # noqa: F811
    answer = client.post(
        "/api/v1/contact/",
        json={"organization": world["own_org"] + 0.4, "full_name": "Новый Контакт"},
        headers=her_api,
    )
    assert_json_4xx(answer)


# --- 7. Server errors on bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organization/-1",
        "/api/v1/organization/9223372036854775808",
        "/api/v1/organization/99999999999999999999999",
        "/api/v1/contact/\uff11",
        "/api/v1/contact/\u0661",
        "/api/v1/request/9223372036854775808",
        "/api/v1/reminder/abc",
        "/api/v1/contact/_x",  # found by the generated run: GET answered 405
        "/api/v1/contact/1%0A",  # «1» and a line feed: a regex's `$` took it for an id
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_ids_that_are_not_ids_answer_a_json_404(app, client, world, her_api, path, method):  # noqa: F811
    answer = client.open(path, method=method, json={} if method == "PUT" else None, headers=her_api)
    assert answer.status_code == 404, (answer.status_code, answer.get_data(as_text=True)[:300])
    assert answer.is_json


def test_unicode_digits_never_reach_a_record(app, client, world, her_api):  # noqa: F811
    answer = client.get(
        f"/api/v1/contact/{str(world['contact']).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}",
        headers=her_api,
    )
    assert answer.status_code == 404


@pytest.mark.parametrize("body", ["[]", "null", '"x"', "1", "[{}]", "true"])
@pytest.mark.parametrize("url", ["/api/v1/organization/", "/api/v1/contact/", "/api/v1/request/", "/api/v1/reminder/"])
def test_json_bodies_that_are_not_objects_are_refused(app, client, world, her_api, url, body):  # noqa: F811
    answer = client.post(url, data=body, content_type="application/json", headers=her_api)
    assert_json_4xx(answer)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/organization/{own_org}",
        "/api/v1/request/{own_request}/items",
        "/api/v1/agent/settings",
    ],
)
def test_json_bodies_that_are_not_objects_are_refused_on_edit(app, client, world, her_api, url):  # noqa: F811
    for body in ["[]", "null", '"x"']:
        answer = client.put(url.format(**world), data=body, content_type="application/json", headers=her_api)
        assert_json_4xx(answer)


DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/api/v1/security/login"),
        ("POST", "/api/v1/organization/"),
        ("PUT", "/api/v1/organization/{own_org}"),
        ("POST", "/api/v1/request/{own_request}/comments"),
        ("PUT", "/api/v1/agent/settings"),
        ("POST", "/api/v1/reminder/"),
    ],
)
def test_deeply_nested_json_is_refused(app, client, world, her_api, method, url):  # noqa: F811
    body = '{"a":' + DEEP + "}"
    headers = {} if "security" in url else her_api
    answer = client.open(
        url.format(**world), method=method, data=body, content_type="application/json", headers=headers
    )
    assert_json_4xx(answer)


@pytest.mark.parametrize("body", [{"organization": HUGE}, {"organization": -HUGE - 1}])
def test_huge_ids_in_a_body_are_refused(app, client, world, her_api, body):  # noqa: F811
    answer = client.post("/api/v1/contact/", json={**body, "full_name": "Х"}, headers=her_api)
    assert_json_4xx(answer)


@pytest.mark.parametrize("due", ["0001-01-01T00:00", "0001-01-01T00:00:00+03:00", "9999-12-31T23:00:00-05:00", "x"])
def test_reminder_dates_that_overflow_are_refused_by_rest(app, client, world, her_api, due):  # noqa: F811
    answer = client.post("/api/v1/reminder/", json={"text": "Позвонить", "due_at": due}, headers=her_api)
    assert_json_4xx(answer)
    with app.app_context():
        assert db.session.scalars(select(Reminder).where(Reminder.text == "Позвонить")).first() is None


@pytest.mark.parametrize("due", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_reminder_dates_that_overflow_are_refused_by_the_form(app, petrova, world, due):  # noqa: F811
    token = csrf_token(petrova, "/reminders/new")
    answer = petrova.post("/reminders/new", data={"text": "Позвонить", "due": due, "csrf_token": token})
    assert answer.status_code == 200, answer.status_code
    assert "Позвонить" in answer.get_data(as_text=True)  # what she typed is still there
    with app.app_context():
        assert db.session.scalars(select(Reminder).where(Reminder.text == "Позвонить")).first() is None


CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
FAB_ENGLISH = ["Not a valid", "Invalid order", "Filter column", "Filter operation", "Bad Request", "rison"]

# Malformed wherever FAB reads `q=` (the list and _info): refused with 400 and a Russian message.
RISON_MALFORMED = [
    "((((",
    "(keys:!(nope))",
    "\x00",
    "(filters:!((col:number,opr:ct,value:'a\x00b')))",
]
# Malformed for a list; FAB's _info reads only `keys`, `add_columns` and `edit_columns` of q and
# ignores the rest (page, filters, order), so there it answers the normal description.
RISON_MALFORMED_FOR_A_LIST = [
    "(page:!(1))",
    "(page_size:abc)",
    "(page:-1,page_size:10)",
    "(filters:!((col:organization,opr:rel_o_m,value:99999999999999999999)))",
    "(filters:!((col:organization,opr:rel_o_m,value:abc)))",
    "(filters:!((col:request_date,opr:gt,value:notadate)))",
    "(filters:!((col:request_date,opr:gt,value:'9999-99-99')))",
    "(filters:!((col:number)))",
    "(filters:x)",
    "(order_column:responsible,order_direction:asc)",
    "(order_column:number,order_direction:sideways)",
]
# What FAB reads as it is documented: a page size past FAB_API_MAX_PAGE_SIZE is capped to it, an
# unknown column in `columns` is left out, and a list of values is "each of them" (the web search's
# rule: no request belongs to two organisations, none has an «a» in its number). The normal list.
RISON_READ_AS_DOCUMENTED = {
    "(page:0,page_size:99999999999999999999)": "all",
    "(columns:!(nope))": "all",
    "(filters:!((col:organization,opr:rel_o_m,value:!(1,2))))": "none",
    "(filters:!((col:number,opr:ct,value:!(a))))": "none",
}
LIST_ENDPOINTS = {"/api/v1/request/": ("own_request", "shared_request"), "/api/v1/contact/": ("own_contact",)}


def assert_russian_400(answer) -> str:
    body = assert_json_4xx(answer)
    assert answer.status_code == 400, (answer.status_code, body)
    message = body["message"]
    assert isinstance(message, str) and CYRILLIC.search(message), body
    assert not any(word in message for word in FAB_ENGLISH), message
    return message


@pytest.mark.parametrize("q", RISON_MALFORMED + RISON_MALFORMED_FOR_A_LIST)
@pytest.mark.parametrize("endpoint", [*LIST_ENDPOINTS, "/api/v1/request/_info"])
def test_malformed_rison_answers_400(app, client, world, her_api, q, endpoint):  # noqa: F811
    answer = client.get(endpoint, query_string={"q": q}, headers=her_api)
    if endpoint.endswith("_info") and q in RISON_MALFORMED_FOR_A_LIST:
        body = answer.get_json()
        assert answer.status_code == 200, (answer.status_code, body)
        assert {"add_columns", "edit_columns"} <= body.keys(), body  # the normal description
    else:
        assert_russian_400(answer)


@pytest.mark.parametrize("q", sorted(RISON_READ_AS_DOCUMENTED))
@pytest.mark.parametrize("endpoint", sorted(LIST_ENDPOINTS))
def test_rison_that_fab_reads_as_documented_gives_the_normal_list(app, client, world, her_api, q, endpoint):  # noqa: F811
    answer = client.get(endpoint, query_string={"q": q}, headers=her_api)
    if endpoint == "/api/v1/contact/" and "col:number" in q:  # a contact has no number to filter by
        assert "«number»" in assert_russian_400(answer)
        return
    body = answer.get_json()
    assert answer.status_code == 200, (answer.status_code, body)
    assert body["count"] == len(body["ids"]) == len(body["result"]), body
    if RISON_READ_AS_DOCUMENTED[q] == "none":
        assert body["ids"] == [], body
    else:
        assert {world[key] for key in LIST_ENDPOINTS[endpoint]} <= set(body["ids"]), body
        assert world["request"] not in body["ids"] or endpoint != "/api/v1/request/", body


def assert_russian_400_page(answer) -> str:
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400, (answer.status_code, page[:300])
    message = re.search(r'<p class="crm-error-message">(.*?)</p>', page, re.DOTALL)
    assert message and CYRILLIC.search(message.group(1)), page[:2000]
    assert "Организации" in page  # within the layout, the menu there
    for secret in ("Traceback", "sqlalchemy", "ValueError", "IndexError", "Bad Request"):
        assert secret not in page, secret
    return html.unescape(message.group(1))


@pytest.mark.parametrize(
    "args",
    [
        {"_oc_OrganizationView": "responsible", "_od_OrganizationView": "asc"},
        {"_oc_OrganizationView": "nope", "_od_OrganizationView": "asc"},
        {"_flt_3_responsible": "1"},
        {"_flt_0_responsible": "abc"},
        {"_flt_0_responsible": str(HUGE)},
        {"_flt_0_name": "a\x00b"},
        {"psize_OrganizationView": "abc"},
        {"psize_OrganizationView": "-5"},
        {"psize_OrganizationView": str(HUGE)},
        {"page_OrganizationView": "-1"},
        {"page_OrganizationView": "abc"},
        {"page_OrganizationView": str(HUGE)},
        {"page_OrganizationView": "\uff11"},
        {"q": "\x00"},
        {"request_status": "\x00"},
    ],
)
def test_hand_edited_list_arguments_never_answer_500(app, petrova, world, args):  # noqa: F811
    assert_russian_400_page(petrova.get("/organizationview/list/", query_string=args))


def test_a_hand_edited_filter_fab_reads_as_documented_gives_the_normal_list(app, petrova, world):  # noqa: F811
    """`_flt_9_name`: the tenth filter of a text column is FAB's «Not in» (the values given); none of
    her organisations is named «x», so the list is hers as usual."""
    answer = petrova.get("/organizationview/list/", query_string={"_flt_9_name": "x"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "ООО «Свой клиент»" in html.unescape(page) and "ООО «Общий клиент»" in html.unescape(page)
    assert "Чужой" not in page


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ({"_flt_0_request_date": "notadate"}, "notadate"),
        ({"_flt_0_contract_price": "abc"}, "Введите сумму"),
        ({"_flt_0_contract_price": "1e999"}, "Введите сумму"),
        ({"_oc_RequestView": "organization", "_od_RequestView": "asc"}, "organization"),
        ({"_flt_0_responsible": "1.5"}, "1.5"),
    ],
)
def test_hand_edited_request_list_arguments_never_answer_500(app, petrova, world, args, said):  # noqa: F811
    assert said in assert_russian_400_page(petrova.get("/requestview/list/", query_string=args))


def test_a_status_filter_fab_reads_as_documented_gives_the_normal_list(app, petrova, world):  # noqa: F811
    """`_flt_2_status=x`: FAB's third filter on a text column is «contains»; no status contains «x»."""
    answer = petrova.get("/requestview/list/", query_string={"_flt_2_status": "x"})
    assert answer.status_code == 200
    assert world["own_request_number"] not in answer.get_data(as_text=True)
    assert "crm-error-message" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/organizationview/show/9223372036854775808",
        "/organizationview/edit/99999999999999999999",
        "/requestview/show/\uff11",
        "/contactview/show/abc",
        "/organizationview/card/9223372036854775808",
    ],
)
def test_html_pages_with_ids_that_are_not_ids_answer_404(app, petrova, world, url):  # noqa: F811
    answer = petrova.get(url)
    assert answer.status_code == 404, answer.status_code


def test_nul_in_a_form_field_is_a_message_not_a_500(app, petrova, world):  # noqa: F811
    token = csrf_token(petrova, "/organizationview/add")
    answer = petrova.post(
        "/organizationview/add", data={"name": "ООО\x00 Ноль", "city": "Мо\x00сква", "csrf_token": token}
    )
    assert answer.status_code in (200, 400), answer.status_code
    with app.app_context():
        assert db.session.scalars(select(Organization).where(Organization.name.like("%Ноль%"))).first() is None


def test_text_where_a_number_is_expected_in_a_form_is_a_message(app, petrova, world):  # noqa: F811
    token = csrf_token(petrova, f"/requestview/edit/{world['own_request']}")
    answer = petrova.post(
        f"/requestview/edit/{world['own_request']}",
        data={
            "organization": str(world["own_org"]),
            "request_date": "2026-01-01",
            "contract_price": "дорого",
            "currency": "RUB",
            "equipment-0-equipment_type": "Насос",
            "equipment-0-quantity": "1.5",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 200, answer.status_code
    page = answer.get_data(as_text=True)
    assert "дорого" in page


def _her_id(app: Flask) -> str:
    from app.models import CrmUser

    with app.app_context():
        return str(db.session.scalars(select(CrmUser.id).where(CrmUser.username == "petrova")).one())


def test_russian_money_is_accepted_by_the_form(app, petrova, world):  # noqa: F811
    token = csrf_token(petrova, f"/requestview/edit/{world['own_request']}")
    answer = petrova.post(
        f"/requestview/edit/{world['own_request']}",
        data={
            "organization": str(world["own_org"]),
            "request_date": "2026-01-01",
            "responsible": _her_id(app),
            "contract_price": "1 250 000,50",
            "currency": "EUR",
            "equipment-0-equipment_type": "Насос",
            "equipment-0-quantity": "2",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    with app.app_context():
        req = db.session.get(Request, world["own_request"])
        assert str(req.contract_price) == "1250000.50" and req.currency == "EUR"
    page = petrova.get(f"/requestview/show/{world['own_request']}").get_data(as_text=True)
    assert "1\u00a0250\u00a0000,50" in page


@pytest.mark.parametrize("currency", ["ZZZ", ""])
def test_currency_is_a_choice_on_the_form(app, petrova, world, currency):  # noqa: F811
    token = csrf_token(petrova, f"/requestview/edit/{world['own_request']}")
    petrova.post(
        f"/requestview/edit/{world['own_request']}",
        data={
            "organization": str(world["own_org"]),
            "request_date": "2026-01-01",
            "currency": currency,
            "equipment-0-equipment_type": "Насос",
            "csrf_token": token,
        },
    )
    with app.app_context():
        assert db.session.get(Request, world["own_request"]).currency == "RUB"


def test_nul_in_a_query_string_is_not_a_500(app, petrova, world):  # noqa: F811
    for url in ["/requestview/list/?q=%00", "/reminders/?everyone=%00", "/api/v1/catalogue/suggest?field=name&q=%00"]:
        answer = petrova.get(url)
        assert answer.status_code < 500, (url, answer.status_code)


def test_info_does_not_describe_every_column_with_the_catalogue_header(app, client, world, her_api):  # noqa: F811
    answer = client.get("/api/v1/request/_info", headers=her_api)
    assert answer.status_code == 200
    descriptions = {
        field.get("description") for field in answer.get_json()["add_columns"] + answer.get_json()["edit_columns"]
    }
    assert not any(d and ("Project-Id-Version" in d or "Content-Type" in d) for d in descriptions), descriptions


# --- 5. Error pages ----------------------------------------------------------------------------


def test_not_found_page_is_russian_within_the_layout(app, petrova):  # noqa: F811
    answer = petrova.get("/requestview/show/999999")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert "Not Found" not in page and "не найден" in page.lower()
    assert "Организации" in page  # the menu is there


def test_forbidden_page_is_russian_within_the_layout(app, petrova):  # noqa: F811
    answer = petrova.get("/users/list/")
    page = answer.get_data(as_text=True)
    if answer.status_code == 403:
        assert "Forbidden" not in page and "Организации" in page


def test_a_server_error_is_a_russian_page_with_a_reference_and_details_only_in_the_log(app, petrova, caplog):  # noqa: F811
    from app.errors import server_error_page

    with app.test_request_context("/organizationview/list/"):
        from flask import g

        from app.models import CrmUser

        g.user = db.session.scalars(select(CrmUser).where(CrmUser.username == "petrova")).one()
        try:
            raise RuntimeError("secret-internal-detail")
        except RuntimeError as error:
            body, status = server_error_page(error)
    assert status == 500
    assert "secret-internal-detail" not in body and "Ошибка" in body
    assert "secret-internal-detail" in caplog.text
    reference = [word for word in body.split() if word.startswith("E-")]
    assert reference and reference[0].strip(".:<>«»") in caplog.text


def test_an_api_server_error_is_json_with_a_reference(app, client, her_api):
    from app.errors import server_error_page

    with app.test_request_context("/api/v1/organization/"):
        try:
            raise RuntimeError("secret-internal-detail")
        except RuntimeError as error:
            answer, status = server_error_page(error)
    assert status == 500
    assert "secret-internal-detail" not in json.dumps(answer) and answer["reference"].startswith("E-")


def _boom(*_args, **_kwargs):
    raise RuntimeError("secret-internal-detail: SELECT * FROM organization")


def assert_logged_with_traceback(caplog, reference: str) -> None:
    records = [record for record in caplog.records if reference in record.getMessage()]
    assert records, caplog.text[-2000:]
    assert any(record.exc_info and "secret-internal-detail" in str(record.exc_info[1]) for record in records)
    assert "Traceback" in caplog.text and "secret-internal-detail" in caplog.text


def test_a_page_that_really_fails_is_the_russian_error_page_with_its_reference(app, petrova, monkeypatch, caplog):  # noqa: F811
    """The route itself raises (its view function replaced): Flask's handler for every 5xx answers."""
    monkeypatch.setitem(app.view_functions, "OrganizationView.list", _boom)
    answer = petrova.get("/organizationview/list/")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert "Ошибка на нашей стороне" in page and "Организации" in page  # Russian, within the layout
    reference = re.search(r'<code class="crm-error-reference">(E-[0-9A-F]{8})</code>', page).group(1)
    assert page.count(reference) >= 1
    for secret in ("secret-internal-detail", "RuntimeError", "SELECT", "Traceback"):
        assert secret not in page, secret
    assert_logged_with_traceback(caplog, reference)


def test_an_api_route_that_really_fails_is_json_with_its_reference(app, client, her_api, monkeypatch, caplog):
    monkeypatch.setitem(app.view_functions, "OrganizationApi.get_list", _boom)
    answer = client.get("/api/v1/organization/", headers=her_api)
    assert answer.status_code == 500 and answer.is_json
    body = answer.get_json()
    assert body["reference"].startswith("E-") and body["reference"] in body["message"]
    assert "Ошибка на нашей стороне" in body["message"]
    assert "secret-internal-detail" not in answer.get_data(as_text=True)
    assert "RuntimeError" not in answer.get_data(as_text=True)
    assert_logged_with_traceback(caplog, body["reference"])


def test_a_rest_resource_that_fails_inside_fab_is_json_with_its_reference(app, client, her_api, monkeypatch, caplog):
    """Behind FAB's @safe (which would answer its own 500 text): the same answer and log line."""
    from app.api.clients import OrganizationApi

    monkeypatch.setattr(OrganizationApi, "get_list_headless", _boom)
    answer = client.get("/api/v1/organization/", headers=her_api)
    assert answer.status_code == 500 and answer.is_json
    body = answer.get_json()
    assert body["reference"].startswith("E-") and body["reference"] in body["message"]
    assert "secret-internal-detail" not in answer.get_data(as_text=True)
    assert_logged_with_traceback(caplog, body["reference"])


# --- 8. Plain-text and file downloads are never sniffed into another type ---------------------------


def test_a_document_download_and_a_csv_export_carry_nosniff(app, petrova, world):  # noqa: F811
    from werkzeug.datastructures import FileStorage

    from app.domain.requests import attach_document
    from app.files import store_upload

    with app.app_context(), app.test_request_context():
        req = db.session.get(Request, world["own_request"])
        her = db.session.scalars(select(CrmUser).where(CrmUser.username == "petrova")).one()
        stored = store_upload(FileStorage(io.BytesIO(b"<html><script>alert(1)</script>"), filename="offer.txt"))
        document = attach_document(req, stored, her)
        db.session.commit()
        document_id = document.id
    download = petrova.get(f"/requestview/document/{document_id}")
    assert download.status_code == 200, download.status_code
    assert download.get_data() == b"<html><script>alert(1)</script>"  # the file itself, not a page
    assert download.headers.get("X-Content-Type-Options") == "nosniff"
    export = petrova.get("/organizationview/export/", query_string={"format": "csv"})
    assert export.status_code == 200, export.status_code
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    assert "Свой клиент" in export.get_data().decode("cp1251")
    assert export.headers.get("X-Content-Type-Options") == "nosniff"


def test_unknown_api_routes_answer_json(app, client, her_api):
    answer = client.get("/api/v1/nothing-here", headers=her_api)
    assert answer.status_code == 404 and answer.is_json


def test_an_unknown_page_is_not_a_bare_english_page(app, client):
    answer = client.get("/no-such-page")
    assert answer.status_code == 404
    assert "Not Found" not in answer.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _quiet_app(app: Flask):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield


def test_a_russian_amount_finds_requests_in_the_web_search_and_by_rest(app, petrova, world, client):  # noqa: F811
    from decimal import Decimal

    with app.app_context():
        req = db.session.get(Request, world["own_request"])
        req.contract_price = Decimal("1250000.50")
        db.session.commit()
    page = petrova.get("/requestview/list/", query_string={"_flt_0_contract_price": "1 250 000,50"})
    assert page.status_code == 200
    assert world["own_request_number"] in page.get_data(as_text=True)
    refused = petrova.get("/requestview/list/", query_string={"_flt_0_contract_price": "дорого"})
    assert refused.status_code == 400 and "Введите сумму" in refused.get_data(as_text=True)
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    found = client.get(
        "/api/v1/request/",
        query_string={"q": "(filters:!((col:contract_price,opr:eq,value:'1 250 000,50')))"},
        headers=headers,
    )
    assert found.status_code == 200, found.get_data(as_text=True)
    assert found.get_json()["ids"] == [world["own_request"]]
