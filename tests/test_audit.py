"""The audit trail: who did what and when, with old and new values, written with the change."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.domain.requests import change_status
from app.extensions import db
from app.models import AuditEntry, Organization, RequestStatus
from tests.conftest import csrf_token
from tests.factories import make_organization, make_request


def entries(app, **where) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def test_creating_and_changing_an_organization_is_recorded_with_user_and_values(app, manager_client):
    token = csrf_token(manager_client, "/organizationview/add")
    manager_client.post("/organizationview/add", data={"name": "ООО «Аудит»", "city": "Тула", "csrf_token": token})
    with app.app_context():
        org_id = db.session.scalar(select(Organization.id))
    url = f"/organizationview/edit/{org_id}"
    with app.app_context():
        # The form sends its responsible field as the browser does (left as it was).
        responsible = str(db.session.get(Organization, org_id).responsible_id)
    manager_client.post(
        url,
        data={
            "name": "ООО «Аудит»",
            "city": "Калуга",
            "responsible": responsible,
            "csrf_token": csrf_token(manager_client, url),
        },
    )
    created, changed = entries(app, organization_id=org_id, entity="organization")
    assert (created.action, changed.action) == ("create", "update")
    assert json.loads(created.changes)["city"] == [None, "Тула"]
    assert json.loads(changed.changes) == {"city": ["Тула", "Калуга"]}
    with app.app_context():
        assert db.session.get(AuditEntry, changed.id).user.username == "ivanov"
    page = manager_client.get(f"/organizationview/show/{org_id}").get_data(as_text=True)
    assert "История изменений" in page and "Тула → Калуга" in page and "Иван Иванов" in page


def test_request_history_shows_status_changes_items_and_finance(app, manager_client):
    with app.app_context():
        request = make_request(make_organization("ООО «Хроника»"))
        request_id = request.id
    show = f"/requestview/show/{request_id}"
    manager_client.post(
        f"/requestview/status/{request_id}",
        data={"status": "in_progress", "comment": "Начали", "csrf_token": csrf_token(manager_client, show)},
    )
    kinds = [(e.entity, e.action) for e in entries(app, request_id=request_id)]
    assert ("request", "create") in kinds and ("item", "create") in kinds
    assert ("status", "create") in kinds and ("request", "update") in kinds
    page = manager_client.get(show).get_data(as_text=True)
    assert "История изменений" in page and "Иван Иванов" in page


def test_a_failing_change_rolls_back_and_leaves_no_audit_record(app):
    with app.app_context():
        make_organization("ООО «Единственная»")
        before = db.session.scalar(select(db.func.count(AuditEntry.id)))
        db.session.add(Organization(name="ооо «единственная»"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(db.func.count(AuditEntry.id))) == before


def test_deleting_a_contact_is_recorded_on_its_organization(app):
    with app.app_context():
        org = make_organization("ООО «Удаления»", contacts=[{"full_name": "Уходящий Иван"}])
        org_id = org.id
        db.session.delete(org.contacts[0])
        db.session.commit()
    deleted = [e for e in entries(app, organization_id=org_id) if e.action == "delete"]
    assert [(e.entity, e.label) for e in deleted] == [("contact", "Уходящий Иван")]


def test_history_cannot_be_edited_or_deleted_through_any_route(app):
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    assert not any("audit" in rule or "history" in rule for rule in rules)


def test_status_change_outside_a_request_is_recorded_without_a_user(app):
    with app.app_context():
        request = make_request(make_organization("ООО «Фоновая»"))
        change_status(request, RequestStatus.DEAD, "закрыто скриптом", None)
        db.session.commit()
        request_id = request.id
    [status] = [e for e in entries(app, request_id=request_id, entity="status") if e.action == "create"][1:]
    assert status.user_id is None and json.loads(status.changes)["new_value"] == [None, "dead"]
