"""Not committed: screenshots of every screen as admin and petrova."""

from app.extensions import db
from app.models import CrmUser, Organization, Request
from tests.browser.conftest import log_in
from tests.factories import make_organization, make_request

OUT = "/tmp/ux"


def test_walk(app, page):
    with app.app_context():
        from app import demo

        demo.load_demo(12, seed=1, password="Demo-password-123")
        petrova = db.session.query(CrmUser).filter_by(username="petrova").one()
        org = make_organization("ООО «Петровой»", responsible=petrova, city="Казань", contacts=[{"full_name": "Кузнецов Пётр", "is_primary": True}])
        make_request(org, responsible=petrova)
        org_id = db.session.query(Organization.id).order_by(Organization.id).first()[0]
        req_id = db.session.query(Request.id).order_by(Request.id).first()[0]
        p_org, p_req = org.id, db.session.query(Request.id).filter_by(responsible_id=petrova.id).first()[0]
    screens = [
        ("home", "/"),
        ("orgs", "/organizationview/list/"),
        ("org", f"/organizationview/show/{org_id}"),
        ("org-edit", f"/organizationview/edit/{org_id}"),
        ("org-add", "/organizationview/add"),
        ("contacts", "/contactview/list/"),
        ("requests", "/requestview/list/"),
        ("request", f"/requestview/show/{req_id}"),
        ("request-edit", f"/requestview/edit/{req_id}"),
        ("request-add-from-org", f"/requestview/add?_flt_0_organization={org_id}"),
        ("reminders", "/reminders/"),
        ("reminder-new", f"/reminders/new?organization={org_id}"),
        ("agent", "/agentsettingsview/"),
        ("users", "/users/list/"),
        ("user-add", "/users/add"),
        ("user-show", "/users/show/1"),
        ("roles", "/roles/list/"),
        ("catalogue", "/documentcategoryview/list/"),
        ("userinfo", "/users/userinfo/"),
    ]
    for who, pages in (("admin", screens), ("petrova", screens[:13] + [("p-org", f"/organizationview/show/{p_org}"), ("p-req", f"/requestview/show/{p_req}")])):
        log_in(page, who)
        for name, url in pages:
            page.goto(url)
            page.screenshot(path=f"{OUT}/{who}-{name}.png", full_page=True)
        page.goto("/logout/")
