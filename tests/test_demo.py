"""`flask crm demo --orgs N`: demo data that looks like what the application itself stores."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from itertools import pairwise

import pytest
from flask import Flask
from flask_appbuilder import Model
from sqlalchemy import delete, func, select, text

from app.demo import DEMO_MANAGERS, make_inn
from app.extensions import db
from app.models import (
    CatalogueEntry,
    Contact,
    Delivery,
    DeliveryStatus,
    Organization,
    Reminder,
    Request,
    RequestNumberCounter,
    RequestStatus,
)
from app.models.clients import name_key, phone_digits
from app.models.users import CrmUser, RecordScope
from app.search import quick_search_clause
from tests.factories import make_organization, make_request

DEMO_PASSWORD = "Demo-Passw0rd-for-tests"


@pytest.fixture
def demo(app: Flask) -> Iterator[Callable]:
    """Runs the command; afterwards removes the client base and the demo managers it created."""

    def run(*args: str):
        return app.test_cli_runner().invoke(args=["crm", "demo", "--password", DEMO_PASSWORD, *args])

    yield run
    with app.app_context():
        db.session.rollback()
        for table in reversed(Model.metadata.sorted_tables):
            if not table.name.startswith("ab_") and table.name != "document_category":
                db.session.execute(delete(table))
        usernames = [username for username, *_ in DEMO_MANAGERS]
        for user in db.session.scalars(select(CrmUser).where(CrmUser.username.in_(usernames))):
            db.session.delete(user)
        db.session.commit()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_demo_fills_a_consistent_client_base(app, demo):
    result = demo("--orgs", "30", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output

    with app.app_context():
        organizations = db.session.scalars(select(Organization)).all()
        assert len(organizations) == 30
        assert 30 * 2 <= count(Contact) <= 30 * 4  # about three each
        requests = db.session.scalars(select(Request)).all()
        assert 30 * 2.5 <= len(requests) <= 30 * 5.5  # about four each

        for organization in organizations:
            assert organization.name_key == name_key(organization.name)
            assert organization.search_text == organization.build_search_text()
            assert re.fullmatch(r"(ООО|АО|ЗАО|ПАО) «.+»|ИП [А-ЯЁ]\w+ [А-ЯЁ]\w+ [А-ЯЁ]\w+", organization.name)
            assert len(organization.inn) == (12 if organization.name.startswith("ИП ") else 10)

        numbers = [request.number for request in requests]
        assert len(set(numbers)) == len(numbers)
        for request in requests:
            assert re.fullmatch(rf"{request.request_date.year}-\d{{4}}", request.number)
            assert request.equipment_text == "\n".join(item.describe() for item in request.items)
            statuses = request.status_changes
            assert statuses[0].old_value is None and statuses[0].new_value == RequestStatus.PREPARING_OFFER
            assert all(later.old_value == earlier.new_value for earlier, later in pairwise(statuses))
            assert statuses[-1].new_value == request.status
            deliveries = request.delivery_changes
            assert (deliveries[-1].new_value if deliveries else DeliveryStatus.NOT_STARTED) == request.delivery_status
            assert all(later.old_value == earlier.new_value for earlier, later in pairwise(deliveries))
        assert len({request.status for request in requests}) >= 4
        assert (date.today() - min(request.request_date for request in requests)).days > 365

        # The catalogue knows every item, counted once per request as the application counts.
        uses = Counter(
            key
            for request in requests
            for key in {(i.equipment_type, i.name or "", i.subname or "", i.capacity or "") for i in request.items}
        )
        catalogue = {
            (e.equipment_type, e.name, e.subname, e.capacity): e.times_used
            for e in db.session.scalars(select(CatalogueEntry))
        }
        assert catalogue == dict(uses)

        reminders = db.session.scalars(select(Reminder)).all()
        future = [r for r in reminders if r.delivery == Delivery.PENDING]
        assert future, "some reminders are still ahead"
        assert all(r.sent_at is not None for r in reminders if r.delivery == Delivery.SENT)

        scopes = Counter(
            db.session.scalars(select(CrmUser.record_scope).where(CrmUser.username.in_([u for u, *_ in DEMO_MANAGERS])))
        )
        assert scopes == {RecordScope.OWN: 5, RecordScope.ALL: 1}


def test_a_new_request_after_the_demo_takes_the_next_number(app, demo):
    assert demo("--orgs", "30", "--seed", "4").exit_code == 0
    with app.app_context():
        year = date.today().year
        counter = db.session.get(RequestNumberCounter, year)
        last = counter.last_value if counter is not None else 0
        highest = db.session.execute(
            select(func.max(Request.number)).where(Request.number.like(f"{year}-%"))
        ).scalar_one()
        assert highest == (f"{year}-{last:04d}" if last else None)
        request = make_request(db.session.scalars(select(Organization)).first())
        assert request.number == f"{year}-{last + 1:04d}"


def test_after_the_demo_postgresql_can_answer_lists_from_indexes_alone(app, demo):
    """Its VACUUM marks the new rows visible to all, which index-only scans need; an open transaction
    of the command's own session once kept it from doing so, and lists were ten times slower."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("index-only scans and the visibility map are PostgreSQL's")
    assert demo("--orgs", "40", "--seed", "5").exit_code == 0
    with app.app_context():
        pages = db.session.execute(
            text(
                "SELECT relname, relpages, relallvisible FROM pg_class "
                "WHERE relname IN ('organization', 'contact', 'client_request')"
            )
        ).all()
        db.session.rollback()
    assert len(pages) == 3
    for table, total, all_visible in pages:
        assert total > 0 and all_visible == total, (table, total, all_visible)


def test_quick_search_finds_a_demo_company_by_its_contacts_phone(app, demo, client):
    assert demo("--orgs", "30", "--seed", "5").exit_code == 0
    with app.app_context():
        contact = db.session.scalars(
            select(Contact).where(Contact.mobile_phone.is_not(None)).order_by(Contact.id)
        ).first()
        digits = phone_digits(contact.mobile_phone)[-10:]
        found = db.session.scalars(select(Organization.id).where(quick_search_clause(digits))).all()
        assert contact.organization_id in found
        name = contact.organization.name

    from tests.conftest import login

    login(client, "admin")
    page = client.get(f"/organizationview/list/?q={digits}").get_data(as_text=True)
    assert name in page


def test_demo_refuses_a_client_base_unless_appending(app, demo):
    with app.app_context():
        make_organization("ООО «Настоящий клиент»")
        first_number = make_request(db.session.scalars(select(Organization)).one()).number

    refused = demo("--orgs", "5")
    assert refused.exit_code != 0
    assert "--append" in refused.output
    with app.app_context():
        assert count(Organization) == 1

    appended = demo("--orgs", "5", "--append")
    assert appended.exit_code == 0, appended.output
    with app.app_context():
        assert count(Organization) == 6
        numbers = db.session.scalars(select(Request.number)).all()
        assert len(set(numbers)) == len(numbers)
        this_year = [n for n in numbers if n.startswith(f"{date.today().year}-")]
        assert first_number in this_year
        assert all(n > first_number for n in this_year if n != first_number)


def test_demo_tax_numbers_have_valid_check_digits():
    import random

    rng = random.Random(1)
    for entrepreneur in (False, True):
        for _ in range(50):
            inn = make_inn(rng, entrepreneur)
            digits = [int(c) for c in inn]
            if not entrepreneur:
                weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
                assert sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10 == digits[9]
            else:
                first = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
                second = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
                assert sum(d * w for d, w in zip(digits, first, strict=False)) % 11 % 10 == digits[10]
                assert sum(d * w for d, w in zip(digits, second, strict=False)) % 11 % 10 == digits[11]
