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
from app.models.users import CrmUser, RecordScope

__all__ = [
    "CatalogueEntry",
    "Contact",
    "CrmUser",
    "DeliveryChange",
    "DeliveryStatus",
    "DocumentCategory",
    "DocumentPurpose",
    "Organization",
    "RecordScope",
    "Request",
    "RequestComment",
    "RequestDocument",
    "RequestItem",
    "RequestNumberCounter",
    "RequestStatus",
    "StatusChange",
]
