"""Records for tests, created the way the application creates them (through the ORM session)."""

from __future__ import annotations

from app.extensions import db
from app.models import Contact, Organization


def make_organization(name: str = "ООО «Ромашка»", contacts: list[dict] | None = None, **fields) -> Organization:
    organization = Organization(name=name, **fields)
    for contact_fields in contacts or []:
        organization.contacts.append(Contact(**contact_fields))
    db.session.add(organization)
    db.session.commit()
    return organization
