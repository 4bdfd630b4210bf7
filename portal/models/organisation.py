"""Agencies (the bodies that are reported) and the Front committees that supervise them."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base


class FrontCommittee(Base):
    """A committee of the Vietnam Fatherland Front: the city's, or one commune's or ward's."""

    __tablename__ = "front_committees"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # None for the city committee; otherwise the commune or ward it supervises.
    ward_code: Mapped[int | None] = mapped_column(unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("front_committees.id"))

    parent: Mapped[FrontCommittee | None] = relationship(remote_side=[id])

    @property
    def is_city(self) -> bool:
        return self.ward_code is None


class Agency(Base):
    """A public body: the city, a department, a commune's people's committee, or one of their units."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    # The commune or ward (2025 code) a commune-level body belongs to; None at city level.
    ward_code: Mapped[int | None] = mapped_column(index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Agency | None] = relationship(remote_side=[id])
