"""The domain models; importing this package registers every table on FAB's metadata."""

from app.models.catalogue import CatalogueEntry
from app.models.clients import Contact, Organization
from app.models.requests import (
    DeliveryChange,
    DeliveryStatus,
    DocumentCategory,
    DocumentPurpose,
    Request,
    RequestComment,
    RequestDocument,
    RequestItem,
    RequestNumberCounter,
    RequestStatus,
    StatusChange,
)

__all__ = [
    "CatalogueEntry",
    "Contact",
    "DeliveryChange",
    "DeliveryStatus",
    "DocumentCategory",
    "DocumentPurpose",
    "Organization",
    "Request",
    "RequestComment",
    "RequestDocument",
    "RequestItem",
    "RequestNumberCounter",
    "RequestStatus",
    "StatusChange",
]
