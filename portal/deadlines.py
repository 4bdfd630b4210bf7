"""Deadlines in working days: weekends and Vietnamese public holidays do not count.

The national calendar (Tết, Hùng Kings, 30/4, 1/5, National Day, and the days the
government moves) comes from the maintained `holidays` library; the city's own days
off come from the `holidays` table that administrators edit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.models import DeadlineRule, Holiday
from portal.vocab import DEFAULT_DEADLINE_DAYS, DeadlineStage

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    """The date in Hanoi: a deadline ends at the end of a Hanoi working day."""
    return datetime.now(HANOI).date()


def hanoi_date(moment: datetime) -> date:
    """The Hanoi date of a stored moment (stored as naive UTC)."""
    return moment.replace(tzinfo=UTC).astimezone(HANOI).date()


@lru_cache(maxsize=32)
def _national_holidays(year: int) -> frozenset[date]:
    return frozenset(holiday_calendars.country_holidays("VN", years=year))


@lru_cache(maxsize=32)
def _weekend_workdays(year: int) -> frozenset[date]:
    """Weekend days the government made working days, in exchange for a day off (làm bù)."""
    return frozenset(holiday_calendars.country_holidays("VN", years=year).weekend_workdays)


class WorkingCalendar:
    """Which days are working days, given the national calendar and the city's additions."""

    def __init__(self, city_holidays: frozenset[date] = frozenset()):
        self.city_holidays = city_holidays

    @classmethod
    def load(cls, session: Session) -> WorkingCalendar:
        return cls(frozenset(session.scalars(select(Holiday.day))))

    def is_working_day(self, day: date) -> bool:
        return (
            (day.weekday() < 5 or day in _weekend_workdays(day.year))
            and day not in _national_holidays(day.year)
            and day not in self.city_holidays
        )

    def add_working_days(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (the start day itself does not count)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        while days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`; 0 when end <= start."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def rule_days(session: Session, stage: DeadlineStage, conduct: str | None = None,
              sector: str | None = None) -> int:
    """Working days allowed for a stage: the most specific rule, else the default."""
    rules = session.scalars(
        select(DeadlineRule).where(
            DeadlineRule.stage == stage,
            or_(DeadlineRule.conduct.is_(None), DeadlineRule.conduct == conduct),
            or_(DeadlineRule.sector.is_(None), DeadlineRule.sector == sector),
        )
    ).all()
    if not rules:
        return DEFAULT_DEADLINE_DAYS[stage]
    best = max(rules, key=lambda r: (r.conduct is not None, r.sector is not None))
    return best.working_days

