"""Aggregates that jobs keep current, so public figures never scan the cases table."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, utcnow


class AgencyMonthStats(Base):
    """One agency's figures for one month and sector (the month of each event counted)."""

    __tablename__ = "agency_month_stats"
    __table_args__ = (
        UniqueConstraint("agency_id", "month", "sector"),
        Index("ix_agency_month_stats_month_sector", "month", "sector"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    month: Mapped[date]  # the first day of the month
    sector: Mapped[str] = mapped_column(String(32))
    received: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)
    answered_on_time: Mapped[int] = mapped_column(default=0)
    # How many answers took 0, 1, 2, ... working days (the last bucket: that many or more),
    # so medians and percentiles over any period come from summed histograms.
    answer_days: Mapped[list[int]] = mapped_column(JSON, default=list)
    transfers_requested: Mapped[int] = mapped_column(default=0)
    transfers_refused: Mapped[int] = mapped_column(default=0)
    ping_pong: Mapped[int] = mapped_column(default=0)
    answers_returned: Mapped[int] = mapped_column(default=0)
    disputes: Mapped[int] = mapped_column(default=0)
    reopened: Mapped[int] = mapped_column(default=0)
    ratings: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)


class AgencySnapshot(Base):
    """What each agency holds right now, as of the last refresh."""

    __tablename__ = "agency_snapshots"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    open_now: Mapped[int] = mapped_column(default=0)
    overdue_now: Mapped[int] = mapped_column(default=0)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key an administrator issued to an Open311 client; only its hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown to administrators to tell keys apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
