"""Every table of the portal, importable from one place (Alembic reads `Base.metadata`)."""

from portal.models.abuse import BannedContact, RateLimitHit
from portal.models.case import (
    Answer,
    Assignment,
    Attachment,
    Case,
    CaseEvent,
    Rating,
    TransferRequest,
)
from portal.models.organisation import Agency, FrontCommittee
from portal.models.outbox import OutboxMessage
from portal.models.rules import DeadlineRule, Holiday
from portal.models.staff import CannedReply, SignInFailure
from portal.models.stats import AgencyMonthStats, AgencySnapshot, ApiKey
from portal.models.user import RecoveryCode, User

__all__ = [
    "Agency",
    "AgencyMonthStats",
    "AgencySnapshot",
    "Answer",
    "ApiKey",
    "Assignment",
    "Attachment",
    "BannedContact",
    "CannedReply",
    "Case",
    "CaseEvent",
    "DeadlineRule",
    "FrontCommittee",
    "Holiday",
    "OutboxMessage",
    "RateLimitHit",
    "Rating",
    "RecoveryCode",
    "SignInFailure",
    "TransferRequest",
    "User",
]
