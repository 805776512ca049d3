"""Every ORM class, imported in one place so Alembic sees the whole schema."""

from leadgen.models.access import ApiKey, Source, User
from leadgen.models.agents import Agent, Licence, Shift
from leadgen.models.assignments import Assignment
from leadgen.models.base import Base
from leadgen.models.leads import ConsentRecord, Lead, LeadEvent
from leadgen.models.operations import AuditEntry, DoNotContact, Notification, OutboxEvent, SweepCursor
from leadgen.models.routing import RoutingPolicy

__all__ = [
    "Agent",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "Base",
    "ConsentRecord",
    "DoNotContact",
    "Lead",
    "LeadEvent",
    "Licence",
    "Notification",
    "OutboxEvent",
    "RoutingPolicy",
    "Shift",
    "Source",
    "SweepCursor",
    "User",
]
