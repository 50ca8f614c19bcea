"""Records for tests, created the way the application creates them (through the ORM session)."""

from __future__ import annotations

from app.domain.requests import build_items, prepare_new_request
from app.extensions import db
from app.models import Contact, Organization, Request


def make_organization(name: str = "ООО «Ромашка»", contacts: list[dict] | None = None, **fields) -> Organization:
    organization = Organization(name=name, **fields)
    for contact_fields in contacts or []:
        organization.contacts.append(Contact(**contact_fields))
    db.session.add(organization)
    db.session.commit()
    return organization


def make_request(organization: Organization, items: list[dict] | None = None, author=None, **fields) -> Request:
    """A request created the way the form creates it: numbered, with its first history line."""
    request = Request(organization=organization, **fields)
    request.items = build_items(items or [{"equipment_type": "Система очистки", "name": "OUUT"}])
    prepare_new_request(request, db.session, author)
    db.session.add(request)
    db.session.commit()
    return request
