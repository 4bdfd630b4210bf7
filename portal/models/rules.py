"""Deadline rules and the holidays the city adds to the national calendar."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class DeadlineRule(Base):
    """How many working days a stage may take, for every case or for one conduct or sector.

    The most specific rule wins: conduct and sector, then conduct, then sector, then the
    general rule (both empty).
    """

    __tablename__ = "deadline_rules"
    __table_args__ = (
        UniqueConstraint("stage", "conduct", "sector"),
        CheckConstraint("working_days > 0 AND working_days <= 90", name="working_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    conduct: Mapped[str | None] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(32))
    working_days: Mapped[int]


class Holiday(Base):
    """A day off decreed by the city or a one-off national decision the calendar library lacks."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(200))
