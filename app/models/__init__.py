"""The domain models; importing this package registers every table on FAB's metadata."""

from app.models.clients import Contact, Organization

__all__ = ["Contact", "Organization"]
