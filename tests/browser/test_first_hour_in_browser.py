"""The first hour of a new sales team in Chromium: the rough edges a new user met, each kept fixed."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.extensions import db
from app.models import Request
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request

# With «Система очистки» below: fifteen types, as many as the catalogue suggests at once.
FOURTEEN_TYPES = [f"Тип {n:02d}" for n in range(1, 15)]


def seed_catalogue(app) -> int:
    with app.app_context():
        known = make_organization("ООО «Каталог»")
        make_request(known, items=[{"equipment_type": kind, "name": "Модель"} for kind in FOURTEEN_TYPES])
        make_request(
            known,
            items=[{"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200", "capacity": "227"}],
        )
        return make_organization("АО «Клиент»").id


def requests_of(app, organization_id: int) -> int:
    with app.app_context():
        return db.session.query(Request).filter_by(organization_id=organization_id).count()


def test_keyboard_picks_a_suggestion_and_enter_never_saves_the_form(app, page):
    org_id = seed_catalogue(app)
    log_in(page, "ivanov")
    page.goto(f"/requestview/add?_flt_0_organization={org_id}")
    kind = page.locator("tr.crm-item-row").first.locator("[data-catalogue-field=equipment_type]")
    kind.click()
    kind.press_sequentially("Сис")
    options = page.locator(".crm-suggestions li")
    expect(options).to_have_text(["Система очистки"])
    kind.press("ArrowDown")
    expect(options.first).to_have_class(re.compile("active"))
    kind.press("Enter")
    expect(kind).to_have_value("Система очистки")
    # The pick moves on to the name, which now suggests the names seen with that type.
    name = page.locator("tr.crm-item-row").first.locator("[data-catalogue-field=name]")
    expect(name).to_be_focused()
    expect(options).to_have_text(["OUUT"])
    name.press("Escape")
    expect(options).to_have_count(0)
    # Enter with nothing highlighted, in any item field, keeps the manager on the form.
    name.press_sequentially("Сис")
    name.press("Enter")
    page.locator("tr.crm-item-row").first.locator("input[name$=quantity]").press("Enter")
    page.wait_for_timeout(300)
    assert "/requestview/add" in page.url
    assert requests_of(app, org_id) == 0


def test_all_fifteen_types_show_and_the_last_can_be_clicked(app, page):
    org_id = seed_catalogue(app)
    log_in(page, "ivanov")
    page.goto(f"/requestview/add?_flt_0_organization={org_id}")
    kind = page.locator("tr.crm-item-row").first.locator("[data-catalogue-field=equipment_type]")
    kind.click()
    options = page.locator(".crm-suggestions a")
    expect(options).to_have_count(15)
    screenshot(page, "request-fifteen-types.png")
    # Arrow keys walk down the whole list; the last type is reachable and picked by a click.
    for _ in range(15):
        kind.press("ArrowDown")
    expect(page.locator(".crm-suggestions li.active")).to_have_count(1)
    expect(page.locator(".crm-suggestions li.active")).to_be_in_viewport()
    last = options.filter(has_text="Тип 14")
    last.scroll_into_view_if_needed()
    last.click()
    expect(kind).to_have_value("Тип 14")


def test_two_words_find_the_request_whose_item_holds_both(app, page):
    seed_catalogue(app)
    log_in(page, "ivanov")
    page.goto("/requestview/list/?q=OUUT X2-200")
    rows = page.locator("tr.crm-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("OUUT")
    page.goto("/requestview/list/?q=OUUT X2-999")
    expect(page.locator("tr.crm-row")).to_have_count(0)


def test_edit_opens_on_its_fields_whatever_tab_was_clicked_before(app, page):
    with app.app_context():
        first = make_organization("ООО «Первая»").id
        second = make_organization("ООО «Вторая»").id
    log_in(page, "ivanov")
    page.goto(f"/organizationview/show/{first}")
    tabs = page.locator(".nav-tabs")
    expect(tabs.locator("li").first).to_have_text("Данные")
    tabs.get_by_text("Запросы организации").click()
    # Another organisation's page opens on its data, and «Изменить» on its fields.
    page.goto(f"/organizationview/show/{second}")
    expect(page.locator(".nav-tabs li.active")).to_have_text("Данные")
    page.locator(".crm-edit-button").click()
    expect(page.locator("input[name=name]")).to_be_visible()
    expect(page.locator("input[name=name]")).to_have_value("ООО «Вторая»")
    page.fill("input[name=city]", "Тверь")
    page.get_by_role("button", name="Сохранить").click()
    # Saved from a page opened by its address: the manager lands on the organisation itself.
    page.wait_for_url(re.compile(rf"/organizationview/show/{second}"))
    expect(page.locator(".alert")).to_contain_text("Организация сохранена.")


def test_delete_dialog_speaks_russian(app, page):
    with app.app_context():
        make_organization("ООО «Удаляемая»")
    log_in(page, "admin")
    page.goto("/organizationview/list/")
    row = page.locator("tr.crm-row").first
    row.hover()
    row.locator("a[title], button[title]").last.click()
    dialog = page.locator("#modal-confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".modal-title")).to_have_text("Подтвердите действие")
    expect(dialog.locator(".modal-body")).to_have_text("Удалить эту запись?")
    expect(dialog.get_by_role("button", name="Отмена")).to_be_visible()
    screenshot(page, "delete-dialog.png")


def test_request_form_from_an_organisation_names_its_customer_and_dates_today(app, page):
    with app.app_context():
        org_id = make_organization("АО «Заказчик»").id
    log_in(page, "ivanov")
    page.goto(f"/organizationview/show/{org_id}")
    page.get_by_role("link", name="Новый запрос").click()
    expect(page.locator(".crm-request-customer")).to_have_text("Заказчик: АО «Заказчик»")


def test_the_navbar_fits_one_row_at_1366_pixels_for_the_administrator(app, page):
    log_in(page, "admin")
    page.goto("/")
    box = page.locator(".navbar").bounding_box()
    assert box is not None and box["height"] < 60, box
    # The start page is «Сегодня»; the user's name is the tooltip of his menu where it has no room.
    expect(page.locator("h1, h2, h3").first).to_contain_text("Сегодня")
    expect(page.locator(".navbar .crm-user-name")).to_have_text("Администратор")
    expect(page.locator("link[rel=icon]")).to_have_count(1)


def test_a_new_organisation_takes_its_first_contacts_on_the_same_form(app, page):
    log_in(page, "ivanov")
    page.goto("/organizationview/add")
    page.fill("input[name=name]", "ООО «С контактами»")
    rows = page.locator("tr.crm-contact-row")
    rows.nth(0).locator("input[name$=full_name]").fill("Орлов Игорь")
    rows.nth(0).locator("input[name$=position]").fill("Главный инженер")
    rows.nth(0).locator("input[name$=is_primary]").check()
    page.get_by_role("button", name="Добавить контакт").click()
    rows.nth(1).locator("input[name$=full_name]").fill("Зайцева Анна")
    # Enter in a contact field does not save the half-filled form.
    rows.nth(1).locator("input[name$=mobile_phone]").fill("+7 921 000-11-22")
    rows.nth(1).locator("input[name$=mobile_phone]").press("Enter")
    assert "/organizationview/add" in page.url
    page.get_by_role("button", name="Сохранить").click()
    page.wait_for_url(re.compile(r"/organizationview/show/\d+"))
    page.get_by_role("link", name="Контактные лица").click()
    contacts = page.locator("#ContactView")
    expect(contacts).to_contain_text("Орлов Игорь")
    expect(contacts).to_contain_text("Зайцева Анна")
    expect(contacts.locator(".label")).to_have_text("Основной")
    expect(contacts).not_to_contain_text("None")
    screenshot(page, "organisation-with-contacts.png")


def test_admin_screens_are_russian_without_groups_or_public(app, page):
    log_in(page, "admin")
    page.goto("/users/list/")
    table = page.locator("table").last
    expect(table).to_contain_text("Менеджер")
    expect(table).to_contain_text("Администратор")
    expect(table).not_to_contain_text("True")
    page.locator(".navbar").get_by_text("Безопасность").click()
    menu = page.locator(".navbar .dropdown-menu:visible")
    expect(menu).not_to_contain_text("Группы")
    expect(menu).not_to_contain_text("Groups")
    page.goto("/users/add")
    form = page.locator("form#model_form")
    for wrong in ("Groups", "Группы", "The user's password", "E-mail ользователя", "опредляющая", "Select Value"):
        expect(form).not_to_contain_text(wrong)
    form.locator(".select2-container").first.click()
    offered = page.locator(".select2-results li")
    expect(offered).to_have_count(2)
    assert sorted(offered.all_inner_texts()) == ["Администратор", "Менеджер"]
    page.goto("/roles/list/")
    screenshot(page, "roles.png")
    roles = page.locator("table").last
    expect(roles).to_contain_text("Менеджер")
    expect(roles).not_to_contain_text("Public")
    expect(roles).not_to_contain_text("can_")


def test_reminder_rows_stay_inside_their_panel(app, page):
    from datetime import timedelta

    from app.domain import reminders as reminder_domain
    from app.models import CrmUser
    from app.models.stamps import utcnow

    with app.app_context():
        org = make_organization("ООО «Длинный текст»")
        ivanov = db.session.query(CrmUser).filter_by(username="ivanov").one()
        long_text = "Позвонить главному инженеру по поводу сроков поставки и уточнить цену и монтаж. " * 3
        for hours, text in ((-2, long_text), (3, "Отправить счёт"), (40, "Встреча")):
            due = utcnow() + timedelta(hours=hours)
            reminder_domain.create_reminder(db.session, ivanov, text, due, organization=org)
        db.session.commit()
    log_in(page, "ivanov")
    page.goto("/reminders/")
    panel = page.locator(".panel").first.bounding_box()
    assert panel is not None
    for row in page.locator("tr.crm-reminder").all():
        box = row.bounding_box()
        assert box is not None and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1, (box, panel)
    screenshot(page, "reminders-long-text.png")


def test_the_nobody_choice_of_the_responsible_reads_in_russian_and_saves_nobody(app, page):
    with app.app_context():
        from app.models import CrmUser

        petrova = db.session.query(CrmUser).filter_by(username="petrova").one()
        org_id = make_organization("ООО «Без хозяина»", responsible=petrova).id
    log_in(page, "admin")
    page.goto(f"/organizationview/edit/{org_id}")
    chosen = page.locator("#s2id_responsible, .select2-container").filter(has_text="Мария Петрова").first
    chosen.click()
    offered = page.locator(".select2-results li:visible")
    expect(offered.first).to_have_text("— не назначен —")
    expect(page.locator(".select2-results")).not_to_contain_text("__None")
    offered.first.click()
    expect(page.locator("form#model_form")).to_contain_text("— не назначен —")
    expect(page.locator("body")).not_to_contain_text("__None")
    page.get_by_role("button", name="Сохранить").click()
    page.wait_for_url(re.compile(rf"/organizationview/show/{org_id}"))
    expect(page.locator("#history")).to_contain_text("Ответственный менеджер: Мария Петрова → —")
    expect(page.locator("body")).not_to_contain_text("__None")


def test_a_thousand_pieces_typed_with_a_space_are_saved(app, page):
    with app.app_context():
        org_id = make_organization("АО «Оптовик»").id
    log_in(page, "ivanov")
    page.goto(f"/requestview/add?_flt_0_organization={org_id}")
    row = page.locator("tr.crm-item-row").first
    row.locator("[data-catalogue-field=equipment_type]").fill("Фильтр")
    quantity = row.locator("input[name$=quantity]")
    quantity.fill("")
    quantity.press_sequentially("1 000")
    expect(quantity).to_have_value("1 000")
    page.locator("form#model_form button[type=submit], form#model_form input[type=submit]").first.click()
    expect(page.locator(".crm-request-items tbody tr").first).to_contain_text("1000")
    # A fraction is refused on the form with the rule's message, beside the box.
    page.locator(".crm-request .btn", has_text="Изменить").first.click()
    quantity = page.locator("tr.crm-item-row").first.locator("input[name$=quantity]")
    quantity.fill("1,5")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("tr.crm-item-row").first).to_contain_text("Количество — целое число от 1 до 1 000 000.")
    expect(page.locator("tr.crm-item-row").first.locator("input[name$=quantity]")).to_have_value("1,5")
