"""A case: one report, from submission to closure, with everything that happens to it.

`Case.status` is written only by `portal.lifecycle`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, utcnow
from portal.models.organisation import Agency, FrontCommittee
from portal.models.user import User
from portal.vocab import OPEN_STATUSES

# The open cases: a few percent of a big table, and what the Front's queue works on.
OPEN_CASES = text("status IN (" + ", ".join(f"'{s}'" for s in sorted(OPEN_STATUSES)) + ")")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_committee_status_due", "front_committee_id", "status", "due_on"),
        Index("ix_cases_assigned_agency_status_due", "assigned_agency_id", "status", "due_on"),
        # An agency's closed cases, newest first.
        Index("ix_cases_assigned_agency_status_id", "assigned_agency_id", "status", "id"),
        # The deadline sweep finds overdue cases by state and date.
        Index("ix_cases_status_due_on", "status", "due_on"),
        # Accent-free text search: trigrams make `LIKE '%term%'` use an index on PostgreSQL.
        Index("ix_cases_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
        # The queue of open cases (moderation.queue): by deadline, then id, with the columns
        # the filters and the counts per status read, so a count needs no table row.
        Index("ix_cases_open_queue", "due_on", "id", "status", "front_committee_id",
              "agency_id", "assigned_agency_id", "sector", "conduct", "ward_code",
              "claimed_by_id", "confidential", "escalation_level",
              postgresql_where=OPEN_CASES, sqlite_where=OPEN_CASES),
        Index("ix_cases_open_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"},
              postgresql_where=OPEN_CASES).ddl_if(dialect="postgresql"),
        # Every case with a deadline (the open ones), by deadline: the queue of all statuses.
        Index("ix_cases_due_on_id", "due_on", "id", postgresql_where=text("due_on IS NOT NULL"),
              sqlite_where=text("due_on IS NOT NULL")),
        # The closed, rejected and merged cases counted since a moment (moderation.queue);
        # without the open cases, which change often and have no closing time.
        Index("ix_cases_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL"),
              sqlite_where=text("closed_at IS NOT NULL")),
        # The public search of published answers (portal.published).
        Index("ix_cases_public_search_text_trgm", "public_search_text", postgresql_using="gin",
              postgresql_ops={"public_search_text": "gin_trgm_ops"},
              postgresql_where=text("published_at IS NOT NULL")).ddl_if(dialect="postgresql"),
        CheckConstraint("length(description) <= 10000", name="description_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the reporter's tracking code: the code itself is shown once and never stored.
    tracking_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The one-time token of the form that created the case: a resubmission finds it.
    submission_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(24), index=True)

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    assigned_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    assigned_officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    front_committee_id: Mapped[int] = mapped_column(ForeignKey("front_committees.id"))
    # The Front staff member who took the case, so others see it is being handled.
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)

    conduct: Mapped[str] = mapped_column(String(32), index=True)
    sector: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    # What the agency and the public read once the Front has redacted personal data.
    description_redacted: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[date | None]
    ward_code: Mapped[int | None] = mapped_column(index=True)
    address: Mapped[str] = mapped_column(String(300), default="")

    reporter_kind: Mapped[str] = mapped_column(String(16))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    business_name: Mapped[str | None] = mapped_column(String(200))
    tax_code: Mapped[str | None] = mapped_column(String(14))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    publish_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(5), default="vi")

    # The deadline of the stage the case is in now; history lives in the events.
    due_stage: Mapped[str | None] = mapped_column(String(16))
    due_on: Mapped[date | None]
    # Set while the case waits for the reporter: the clock does not run.
    paused_on: Mapped[date | None]
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    reject_note: Mapped[str | None] = mapped_column(Text)
    ping_pong: Mapped[bool] = mapped_column(Boolean, default=False)
    # How far up the escalation ladder the current deadline has gone (0: not overdue).
    escalation_level: Mapped[int] = mapped_column(default=0, index=True)
    # The text and place folded without accents, for the Front's search (see portal.search).
    search_text: Mapped[str] = mapped_column(Text, default="")
    # What the public may search once the case is published: the reviewed text and the
    # accepted answer, folded; empty until then.
    public_search_text: Mapped[str] = mapped_column(Text, default="")
    # Set when the case may be shown among published answers (consent, reviewed, answered).
    published_at: Mapped[datetime | None] = mapped_column(index=True)

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]

    # The head of the event hash chain: a deleted last event shows as a mismatch.
    event_count: Mapped[int] = mapped_column(default=0)
    event_head_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    agency: Mapped[Agency] = relationship(foreign_keys=[agency_id])
    assigned_agency: Mapped[Agency | None] = relationship(foreign_keys=[assigned_agency_id])
    assigned_officer: Mapped[User | None] = relationship(foreign_keys=[assigned_officer_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    front_committee: Mapped[FrontCommittee] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.seq", viewonly=True
    )
    assignments: Mapped[list[Assignment]] = relationship(
        order_by="Assignment.id", viewonly=True
    )
    attachments: Mapped[list[Attachment]] = relationship(
        order_by="Attachment.id", viewonly=True
    )

    @property
    def reference(self) -> str:
        """The case number people quote: not secret, and no key to the case."""
        return f"PA{self.created_at:%y}-{self.id:07d}"

    @property
    def public_description(self) -> str:
        return self.description_redacted if self.description_redacted is not None else self.description


class CaseEvent(Base):
    """One thing that happened to a case. Append-only; each hash covers the one before it."""

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        # The statistics refresh reads one month of disputes and returned answers.
        Index("ix_case_events_action_created_at", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # reporter, staff, system
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Assignment(Base):
    """A case given to an agency: every agency a case was ever given to has a row."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_agency_id_ended_at", "agency_id", "ended_at"),
        # The statistics refresh reads one month of assignments at a time.
        Index("ix_assignments_assigned_at", "assigned_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recommendation: Mapped[str] = mapped_column(Text, default="")
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    # The agency's answer deadline, kept so a refused transfer does not buy it time.
    answer_due_on: Mapped[date | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(24))  # transferred, closed

    agency: Mapped[Agency] = relationship()


class Attachment(Base):
    """An evidence file, stored outside the web root under a random name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id"))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(16))  # reporter, agency, front
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # quarantined until the scan job (portal.quarantine) has checked it: then clean, or
    # refused with a reason; only clean files are ever served.
    status: Mapped[str] = mapped_column(String(16), default="quarantined", index=True)
    refusal: Mapped[str | None] = mapped_column(String(32))
    checked_at: Mapped[datetime | None]


class Answer(Base):
    """An agency's answer; it reaches the reporter only after the Front accepts it."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The deadline this answer was given against: each answer is judged on time or late once,
    # whatever later returns and extensions do to the case's deadline.
    due_on: Mapped[date | None]
    findings: Mapped[str] = mapped_column(Text)
    actions_taken: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(24))
    reply_to_recommendation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    review: Mapped[str] = mapped_column(String(16), default="pending")  # pending, accepted, returned
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]


class TransferRequest(Base):
    """An agency's claim that another agency is competent: the portal's buck-passing detector."""

    __tablename__ = "transfer_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    to_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, refused
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]


class Rating(Base):
    """The reporter's satisfaction, on the five SIPAS factors and overall, 1 to 5."""

    __tablename__ = "ratings"
    __table_args__ = tuple(
        CheckConstraint(f"{name} BETWEEN 1 AND 5", name=f"{name}_range")
        for name in ("access", "procedure", "attitude", "result", "handling", "overall")
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    access: Mapped[int]
    procedure: Mapped[int]
    attitude: Mapped[int]
    result: Mapped[int]
    handling: Mapped[int]
    overall: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
