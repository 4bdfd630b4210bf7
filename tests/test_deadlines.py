"""Deadlines in working days: weekends, the national calendar and the city's own days off.

Expected dates are worked out by hand from the `holidays` library's calendar for Vietnam, which the
first tests pin, so a change in that calendar shows here as a change of calendar, not of arithmetic.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import pytest

from portal import deadlines
from portal.deadlines import WorkingCalendar, rule_days
from portal.models import DeadlineRule, Holiday
from portal.vocab import DEFAULT_DEADLINE_DAYS, DeadlineStage

CAL = WorkingCalendar()
TET_2027 = [date(2027, 2, 4) + timedelta(days=i) for i in range(7)]  # Thu 4 to Wed 10 February


def test_the_library_calendar_these_tests_rely_on():
    vn = holidays.country_holidays("VN", years=[2026, 2027])
    assert all(day in vn for day in TET_2027)
    assert date(2027, 2, 3) not in vn and date(2027, 2, 11) not in vn
    assert {date(2027, 9, 2), date(2027, 9, 3)} <= set(vn)  # National Day, two days since 2021
    assert {date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)} <= set(vn)
    assert date(2026, 11, 24) in vn  # Vietnam Cultural Day, from 2026
    # The government moved 2026's working Monday 31 August to Saturday 22 August.
    assert date(2026, 8, 22) in vn.weekend_workdays


def test_weekends_are_skipped():
    friday = date(2026, 11, 6)
    assert CAL.is_working_day(friday)
    assert not CAL.is_working_day(date(2026, 11, 7))
    assert not CAL.is_working_day(date(2026, 11, 8))
    assert CAL.add_working_days(friday, 1) == date(2026, 11, 9)  # Monday
    assert CAL.add_working_days(friday, 5) == date(2026, 11, 13)
    assert CAL.add_working_days(date(2026, 11, 7), 1) == date(2026, 11, 9)  # from a Saturday


def test_the_start_day_does_not_count_and_zero_days_is_the_start():
    assert CAL.add_working_days(date(2026, 11, 9), 0) == date(2026, 11, 9)
    assert CAL.add_working_days(date(2026, 11, 9), 1) == date(2026, 11, 10)
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 11, 9), -1)


def test_tet_2027_is_crossed():
    assert not any(CAL.is_working_day(day) for day in TET_2027)
    wednesday = date(2027, 2, 3)
    assert CAL.add_working_days(wednesday, 1) == date(2027, 2, 11)  # Thursday after Tết
    assert CAL.add_working_days(wednesday, 2) == date(2027, 2, 12)  # Friday
    assert CAL.add_working_days(wednesday, 3) == date(2027, 2, 15)  # Monday
    assert CAL.working_days_between(wednesday, date(2027, 2, 12)) == 2


def test_national_day_is_skipped():
    # 2027: Thursday 2 and Friday 3 September.
    assert CAL.add_working_days(date(2027, 9, 1), 1) == date(2027, 9, 6)
    # 2026: Monday 31 August (moved), Tuesday 1 and Wednesday 2 September.
    assert CAL.add_working_days(date(2026, 8, 28), 1) == date(2026, 9, 3)


def test_a_weekend_the_government_made_a_working_day_counts():
    friday = date(2026, 8, 21)
    assert CAL.is_working_day(date(2026, 8, 22))
    assert not CAL.is_working_day(date(2026, 8, 23))
    assert CAL.add_working_days(friday, 1) == date(2026, 8, 22)
    # Sat 22, Mon 24 to Fri 28, Thu 3 and Fri 4 September: Mon 31 to Wed 2 are off.
    assert CAL.working_days_between(friday, date(2026, 9, 4)) == 8


def test_a_city_holiday_from_the_table_counts(session):
    thursday = date(2026, 10, 8)
    assert WorkingCalendar.load(session).add_working_days(thursday, 1) == date(2026, 10, 9)
    session.add(Holiday(day=date(2026, 10, 9), name="Ngày nghỉ của Thành phố"))
    session.flush()
    calendar = WorkingCalendar.load(session)
    assert not calendar.is_working_day(date(2026, 10, 9))
    assert calendar.add_working_days(thursday, 1) == date(2026, 10, 12)
    assert calendar.working_days_between(thursday, date(2026, 10, 12)) == 1
    days = rule_days(session, DeadlineStage.ACKNOWLEDGE)
    assert calendar.add_working_days(thursday, days) == date(2026, 10, 14)


def test_working_days_between():
    monday = date(2026, 11, 9)
    assert CAL.working_days_between(monday, monday) == 0
    assert CAL.working_days_between(monday, monday - timedelta(days=3)) == 0
    assert CAL.working_days_between(date(2026, 11, 6), monday) == 1  # Fri to Mon
    assert CAL.working_days_between(monday, date(2026, 11, 16)) == 5
    assert CAL.working_days_between(monday, date(2026, 11, 14)) == 4  # up to a Saturday
    assert CAL.working_days_between(date(2026, 11, 23), date(2026, 11, 25)) == 1  # 24 Nov is off


@pytest.mark.parametrize("start", [date(2026, 8, 20), date(2026, 11, 20), date(2027, 1, 29),
                                   date(2027, 4, 28), date(2027, 12, 30)])
def test_between_counts_what_add_adds(start):
    for days in range(0, 25):
        end = CAL.add_working_days(start, days)
        assert CAL.working_days_between(start, end) == days
        assert days == 0 or CAL.is_working_day(end)


def test_today_is_the_date_in_hanoi(monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 5, 18, 30, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(deadlines, "datetime", Frozen)
    assert deadlines.today() == date(2026, 11, 6)  # 01:30 on the 6th in Hanoi (UTC+7)


# -- which rule sets the days -----------------------------------------------------------------------

RULES = [  # (conduct, sector, working_days)
    (None, None, 4),
    (None, "construction", 5),
    ("slow_handling", None, 6),
    ("slow_handling", "construction", 7),
    ("shirking", "land", 9),  # matches neither half of the cases below together
]


@pytest.fixture
def rules(session):
    for conduct, sector, days in RULES:
        session.add(DeadlineRule(stage=DeadlineStage.ANSWER, conduct=conduct, sector=sector,
                                 working_days=days))
    session.flush()


@pytest.mark.parametrize(("conduct", "sector", "days"), [
    ("slow_handling", "construction", 7),  # conduct and sector
    ("slow_handling", "land", 6),  # conduct
    ("attitude", "construction", 5),  # sector
    ("attitude", "land", 4),  # the general rule
    ("shirking", "construction", 5),  # a conduct+sector rule needs both to match
    ("shirking", "land", 9),
])
def test_the_most_specific_rule_wins(session, rules, conduct, sector, days):
    assert rule_days(session, DeadlineStage.ANSWER, conduct, sector) == days


def test_without_rules_the_default_applies(session, rules):
    # The rules above are for the answer stage; the others keep their defaults.
    for stage in (DeadlineStage.TRIAGE, DeadlineStage.ACKNOWLEDGE, DeadlineStage.RATING):
        assert rule_days(session, stage, "slow_handling", "construction") == DEFAULT_DEADLINE_DAYS[stage]
    assert DEFAULT_DEADLINE_DAYS == {DeadlineStage.TRIAGE: 2, DeadlineStage.ACKNOWLEDGE: 3,
                                     DeadlineStage.ANSWER: 15, DeadlineStage.RATING: 10}


def test_a_sector_rule_alone_beats_the_default(session):
    session.add(DeadlineRule(stage=DeadlineStage.TRIAGE, conduct=None, sector="land", working_days=3))
    session.flush()
    assert rule_days(session, DeadlineStage.TRIAGE, "attitude", "land") == 3
    assert rule_days(session, DeadlineStage.TRIAGE, "attitude", "health") == 2
    days = rule_days(session, DeadlineStage.TRIAGE, "attitude", "land")
    assert CAL.add_working_days(date(2027, 2, 3), days) == date(2027, 2, 15)
