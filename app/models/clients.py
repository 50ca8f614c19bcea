"""The client base: organisations and their contact persons."""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.sql.expression import false as sql_false

from app.models.stamps import StampedMixin
from app.models.users import CrmUser
from app.normalize import name_key, phone_digits, sort_key, without_legal_form  # noqa: F401  (the one normalisation, shared with search and import)


class Organization(StampedMixin, Model):
    __tablename__ = "organization"
    __table_args__ = (
        Index("ix_organization_name", "name", "id"),
        Index("ix_organization_sort_key", "sort_key", "id"),  # the list's order
        # With the id: the check "his, or one of his requests' clients" reads only the index.
        Index("ix_organization_responsible_visible", "responsible_id", "id"),
        # The quick search's LIKE '%...%' on PostgreSQL (pg_trgm); on SQLite an index on no rows.
        Index(
            "ix_organization_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            sqlite_where=sql_false(),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    name_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    sort_key: Mapped[str] = mapped_column(String(255), nullable=False, default="", server_default="")
    inn: Mapped[str | None] = mapped_column(String(12), index=True)
    industry: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    phones: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    # Lower-cased text of the organisation and all its contacts, phones also as bare digits:
    # the quick search looks in this one column instead of joining contacts.
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")

    # Joined: every list shows the responsible manager; one join instead of a query per row.
    responsible: Mapped[CrmUser | None] = relationship(CrmUser, foreign_keys=[responsible_id], lazy="joined")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organization",
        cascade="all, delete-orphan",
        order_by="(Contact.is_primary.desc(), Contact.full_name)",
    )

    def __str__(self) -> str:
        return self.name

    def build_search_text(self, contacts: list[Contact] | None = None) -> str:
        contacts = self.contacts if contacts is None else contacts
        own = [
            self.name,
            self.inn,
            self.industry,
            self.city,
            self.address,
            self.phones,
            self.email,
            self.website,
            self.notes,
        ]
        parts = [p for p in own if p]
        phones = [phone_digits(self.phones)]
        for contact in contacts:
            parts += [
                p
                for p in (contact.full_name, contact.position, contact.work_phone, contact.mobile_phone, contact.email)
                if p
            ]
            phones += [phone_digits(contact.work_phone), phone_digits(contact.mobile_phone)]
        return "\n".join(parts).casefold() + "\n" + " ".join(p for p in phones if p)


class Contact(StampedMixin, Model):
    __tablename__ = "contact"
    __table_args__ = (Index("ix_contact_full_name", "full_name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), nullable=False, index=True
    )
    full_name: Mapped[str] = mapped_column(String(255), nullable=False)
    position: Mapped[str | None] = mapped_column(String(255))
    work_phone: Mapped[str | None] = mapped_column(String(64))
    mobile_phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    # Nullable only so that FAB does not make the checkbox a required field.
    is_primary: Mapped[bool | None] = mapped_column(Boolean, default=False, server_default=sql_false())

    organization: Mapped[Organization] = relationship(back_populates="contacts", lazy="joined")

    def __str__(self) -> str:
        return self.full_name


def _organization_of(session: Session, contact: Contact) -> Organization | None:
    if contact.organization is None and contact.organization_id is not None:
        return session.get(Organization, contact.organization_id)
    return contact.organization


@event.listens_for(Session, "before_flush")
def _refresh_derived_columns(session: Session, _flush_context, _instances) -> None:
    """Keep name_key, sort_key and search_text true to the organisation and its contacts."""
    touched: dict[int, tuple[Organization, set[int]]] = {}

    def touch(org: Organization | None, removed_contact: Contact | None = None) -> None:
        if org is None:
            return
        _, removed = touched.setdefault(id(org), (org, set()))
        if removed_contact is not None:
            removed.add(id(removed_contact))

    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Organization):
            touch(obj)
        elif isinstance(obj, Contact):
            touch(_organization_of(session, obj))
            for previous in inspect(obj).attrs.organization.history.deleted or ():
                touch(previous, removed_contact=obj)
    for obj in session.deleted:
        if isinstance(obj, Contact):
            touch(_organization_of(session, obj), removed_contact=obj)
    # New contacts by organisation, gathered once: an import flushes thousands of them at a time.
    new_contacts: dict[int, list[Contact]] = {}
    for obj in session.new:
        if isinstance(obj, Contact):
            new_contacts.setdefault(id(_organization_of(session, obj)), []).append(obj)
    for org, removed in touched.values():
        if org in session.deleted:
            continue
        org.name_key = name_key(org.name)
        org.sort_key = sort_key(org.name)
        contacts = [c for c in org.contacts if id(c) not in removed and c not in session.deleted]
        contacts += [c for c in new_contacts.get(id(org), []) if c not in contacts]
        org.search_text = org.build_search_text(contacts)
