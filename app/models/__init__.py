"""The domain models; importing this package registers every table on FAB's metadata."""

from app.models.agent_devices import AgentDevice
from app.models.audit import AuditEntry
from app.models.catalogue import CatalogueEntry
from app.models.clients import Contact, Organization
from app.models.events import AgentEvent, AgentSettings, EventKind
from app.models.imports import ImportBatch, ImportChange, ImportMapping
from app.models.reminders import Delivery, Reminder
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
from app.models.settings import DepartmentSettings
from app.models.users import CrmUser, RecordScope
from app.models.visits import StartPageVisit

__all__ = [
    "AgentDevice",
    "AgentEvent",
    "AgentSettings",
    "AuditEntry",
    "CatalogueEntry",
    "Contact",
    "CrmUser",
    "Delivery",
    "DeliveryChange",
    "DeliveryStatus",
    "DepartmentSettings",
    "DocumentCategory",
    "DocumentPurpose",
    "EventKind",
    "ImportBatch",
    "ImportChange",
    "ImportMapping",
    "Organization",
    "RecordScope",
    "Reminder",
    "Request",
    "RequestComment",
    "RequestDocument",
    "RequestItem",
    "RequestNumberCounter",
    "RequestStatus",
    "StartPageVisit",
    "StatusChange",
]
