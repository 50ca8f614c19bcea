"""A manager keeps the client base in the web UI: organisations, contacts, search, the card popup."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, Organization
from tests.conftest import csrf_token
from tests.factories import make_organization


def add_organization(client, **fields):
    data = {"name": "ООО «Ромашка»", "csrf_token": csrf_token(client, "/organizationview/add")}
    data.update(fields)
    return client.post("/organizationview/add", data=data, follow_redirects=True)


def organization_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Organization.id)))


def test_manager_adds_an_organization_and_becomes_its_responsible(app, manager_client):
    page = add_organization(
        manager_client,
        name="АО «Завод Прогресс»",
        inn="7701234567",
        city="Москва",
        phones="+7 (495) 123-45-67",
        email="info@progress.ru",
    )
    assert page.status_code == 200
    with app.app_context():
        saved = db.session.scalars(select(Organization)).one()
        assert (saved.name, saved.inn, saved.city) == ("АО «Завод Прогресс»", "7701234567", "Москва")
        assert saved.responsible.username == "ivanov"
        assert saved.created_by.username == "ivanov"


def test_name_differing_only_by_case_is_refused_with_a_clear_russian_message(app, manager_client):
    add_organization(manager_client, name="ООО Ромашка")
    page = add_organization(manager_client, name="  ооо   РОМАШКА ", city="Тула")
    html = page.get_data(as_text=True)
    assert "Организация «ООО Ромашка» уже существует." in html
    assert organization_count(app) == 1
    # What the user typed is still in the form, so nothing is lost.
    assert 'value="Тула"' in html


def test_empty_name_is_refused(app, manager_client):
    page = add_organization(manager_client, name="", city="Тула")
    assert "Обязательное поле" in page.get_data(as_text=True)
    assert organization_count(app) == 0


def test_bad_email_huge_text_and_control_characters_are_refused_with_messages(app, manager_client):
    page = add_organization(manager_client, email="not-an-email", notes="x" * 100_000, city="Ту\x07ла")
    html = page.get_data(as_text=True)
    assert "Неверный адрес электронной почты" in html
    assert "Слишком длинный текст: 100000 символов, допустимо не более 10000." in html
    assert "Текст содержит невидимые управляющие символы" in html
    assert organization_count(app) == 0


def test_editing_keeps_data_when_the_new_name_clashes(app, manager_client):
    with app.app_context():
        make_organization("ООО Альфа", city="Казань")
        beta = make_organization("ООО Бета", city="Пермь")
        beta_id = beta.id
    url = f"/organizationview/edit/{beta_id}"
    page = manager_client.post(
        url, data={"name": "ооо альфа", "city": "Омск", "csrf_token": csrf_token(manager_client, url)}
    )
    assert "уже существует" in page.get_data(as_text=True)
    with app.app_context():
        beta = db.session.get(Organization, beta_id)
        assert (beta.name, beta.city) == ("ООО Бета", "Пермь")


def test_renaming_an_organization_to_its_own_name_in_other_case_is_allowed(app, manager_client):
    with app.app_context():
        org_id = make_organization("ооо гамма").id
    url = f"/organizationview/edit/{org_id}"
    manager_client.post(url, data={"name": "ООО Гамма", "csrf_token": csrf_token(manager_client, url)})
    with app.app_context():
        assert db.session.get(Organization, org_id).name == "ООО Гамма"


def quick_search(client, term: str) -> str:
    page = client.get("/organizationview/list/", query_string={"q": term})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_quick_search_finds_by_any_field_and_by_contacts(app, manager_client):
    with app.app_context():
        make_organization(
            "ООО «Северсталь-Сервис»",
            inn="3528000597",
            city="Череповец",
            contacts=[
                {
                    "full_name": "Смирнов Алексей Петрович",
                    "mobile_phone": "+7 (921) 555-12-34",
                    "email": "smirnov@severstal.ru",
                }
            ],
        )
        make_organization("ЗАО «Уралмаш»", city="Екатеринбург", phones="8 (343) 200-10-20")
    for term in [
        "северсталь",
        "3528000597",
        "череповец",
        "Смирнов",
        "smirnov@sever",
        "9215551234",
        "+7 921 555-12-34",
        "89215551234",
    ]:
        html = quick_search(manager_client, term)
        assert "Северсталь-Сервис" in html, term
        assert "Уралмаш" not in html, term
    html = quick_search(manager_client, "3432001020")
    assert "Уралмаш" in html and "Северсталь" not in html


def test_quick_search_treats_percent_and_underscore_literally(app, manager_client):
    with app.app_context():
        make_organization("ООО 100% Качество")
        make_organization("ООО Другое")
    html = quick_search(manager_client, "%")
    assert "100% Качество" in html and "Другое" not in html


def test_search_text_follows_contact_changes(app):
    with app.app_context():
        org = make_organization("ООО Дельта", contacts=[{"full_name": "Кузнецов Игорь"}])
        contact = org.contacts[0]
        contact.full_name = "Орлов Игорь"
        db.session.commit()
        assert "орлов" in org.search_text and "кузнецов" not in org.search_text
        db.session.delete(contact)
        db.session.commit()
        assert "орлов" not in org.search_text
        db.session.add(Contact(organization_id=org.id, full_name="Зайцев Пётр", work_phone="+7 495 111-22-33"))
        db.session.commit()
        db.session.refresh(org)
        assert "зайцев" in org.search_text and "74951112233" in org.search_text


def test_card_popup_shows_company_data_and_every_employee(app, manager_client):
    with app.app_context():
        org_id = make_organization(
            "ООО «Техснаб»",
            phones="+7 (812) 300-00-00, 8 800 100-20-30",
            email="office@tehsnab.ru",
            contacts=[
                {
                    "full_name": "Волкова Анна",
                    "position": "Главный инженер",
                    "work_phone": "+7 812 300-00-01",
                    "mobile_phone": "+7 921 400-50-60",
                    "email": "volkova@tehsnab.ru",
                },
                {
                    "full_name": "Белов Олег",
                    "position": "Снабженец",
                    "mobile_phone": "+7 911 000-11-22",
                    "is_primary": True,
                },
            ],
        ).id
    card = manager_client.get(f"/organizationview/card/{org_id}")
    assert card.status_code == 200
    html = card.get_data(as_text=True)
    for expected in [
        "ООО «Техснаб»",
        "+7 (812) 300-00-00",
        "office@tehsnab.ru",
        "Волкова Анна",
        "Главный инженер",
        "+7 812 300-00-01",
        "volkova@tehsnab.ru",
        "Белов Олег",
        "Снабженец",
        "+7 911 000-11-22",
    ]:
        assert expected in html
    # The primary contact comes first.
    assert html.index("Белов Олег") < html.index("Волкова Анна")
    # One tap dials: every number is its own tel: link, the company's two numbers too.
    for dial, shown in TEHSNAB_NUMBERS:
        assert f'<a href="tel:{dial}" class="crm-tel">{shown}</a>' in html, shown
    assert '<a href="mailto:volkova@tehsnab.ru" class="crm-mailto">' in html
    # ... and the organisation's page, employees tab, shows the contact's two numbers the same way.
    page = manager_client.get(f"/organizationview/show/{org_id}").get_data(as_text=True)
    employees = page[page.index('id="ContactView"') : page.index('id="OrganizationRequestsView"')]
    volkova = employees[employees.index("Волкова Анна") : employees.index("</tr>", employees.index("Волкова Анна"))]
    assert volkova.count('class="crm-tel"') == 2
    for dial, shown in TEHSNAB_NUMBERS[2:]:
        assert f'<a href="tel:{dial}" class="crm-tel">{shown}</a>' in employees, shown
    assert '<a href="mailto:volkova@tehsnab.ru" class="crm-mailto">' in employees


TEHSNAB_NUMBERS = [
    ("+78123000000", "+7 (812) 300-00-00"),
    ("88001002030", "8 800 100-20-30"),
    ("+78123000001", "+7 812 300-00-01"),
    ("+79214005060", "+7 921 400-50-60"),
    ("+79110001122", "+7 911 000-11-22"),
]


def test_card_of_a_missing_organization_is_404(manager_client):
    assert manager_client.get("/organizationview/card/999999").status_code == 404


def test_organization_page_shows_its_contacts(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО Вектор", contacts=[{"full_name": "Лебедев Сергей", "position": "Директор"}]).id
    html = manager_client.get(f"/organizationview/show/{org_id}").get_data(as_text=True)
    assert "ООО Вектор" in html and "Лебедев Сергей" in html and "Контактные лица" in html


def test_contact_is_added_to_an_organization(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО Омега").id
    data = {
        "organization": str(org_id),
        "full_name": "Соколова Ирина",
        "work_phone": "+7 (495) 765-43-21",
        "email": "sokolova@omega.ru",
        "csrf_token": csrf_token(manager_client, "/contactview/add"),
    }
    manager_client.post("/contactview/add", data=data, follow_redirects=True)
    assert "Омега" in quick_search(manager_client, "4957654321")


def test_forms_refuse_a_post_without_csrf_token(app, manager_client):
    page = manager_client.post("/organizationview/add", data={"name": "ООО Без токена"})
    assert page.status_code == 400
    assert organization_count(app) == 0


def test_anonymous_visitor_is_sent_to_login(client):
    page = client.get("/organizationview/list/")
    assert page.status_code == 302 and "/login/" in page.headers["Location"]


def test_interface_is_russian_by_default_and_english_on_request(manager_client):
    assert "Организации" in manager_client.get("/organizationview/list/").get_data(as_text=True)
    manager_client.get("/lang/en")
    assert "Organisations" in manager_client.get("/organizationview/list/").get_data(as_text=True)


def test_the_contacts_list_opens_the_company_card_from_its_name(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО «Карточка»", contacts=[{"full_name": "Лисицын Артём"}]).id
    html = manager_client.get("/contactview/list/").get_data(as_text=True)
    assert f'data-card-url="/organizationview/card/{org_id}">ООО «Карточка»</a>' in html
    assert 'id="crm-card-modal"' in html
