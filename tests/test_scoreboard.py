"""The public scoreboard: the aggregates the job keeps, compared with figures counted by hand.

The fixture runs cases of two city departments and a commune through the real lifecycle in
April and May 2025, with the clock frozen at each step: the deadlines, the events and every
stored moment fall on the days chosen below. The calendar of those months is a test in
itself: Monday 7 April (Hùng Kings), 30 April, 1 and 2 May are holidays, and Saturday 26 April
is a working day (made up for 2 May). The answer deadline is 5 working days (a rule), the
acknowledgement deadline 3 (the default).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import event, select, update

from portal import deadlines, jobs, lifecycle, stats
from portal.db import utcnow
from portal.lifecycle import Actor
from portal.models import (
    Agency,
    AgencyMonthStats,
    AgencySnapshot,
    Answer,
    Assignment,
    Case,
    DeadlineRule,
    Rating,
    TransferRequest,
)
from portal.vocab import AgencyKind, Outcome
from tests.factories import Factory

X, Y, C = "SO-XD", "SO-YT", "UBND-00070"  # two departments, and a commune's committee
OTHER = "SO-NNMT"
TODAY = date(2025, 5, 31)  # the day the figures are refreshed and read

# What the model defaults stamp with the real time; `Clock.settle` moves it to the step's moment.
STAMPED = {
    Case: ("created_at", "closed_at"),
    Assignment: ("assigned_at", "acknowledged_at", "answered_at", "ended_at"),
    Answer: ("created_at", "reviewed_at"),
    TransferRequest: ("created_at", "decided_at"),
    Rating: ("created_at",),
}


class Clock:
    """Each lifecycle step happens at a chosen Hanoi day and hour."""

    def __init__(self, session, monkeypatch):
        self.session = session
        self.monkeypatch = monkeypatch
        self.real_start = utcnow() - timedelta(seconds=1)
        self.moment = self.real_start

    def at(self, day: date, hour: int = 9) -> None:
        moment = datetime.combine(day, time(hour)) - timedelta(hours=7)  # naive UTC
        self.moment = moment
        self.monkeypatch.setattr(deadlines, "today", lambda: day)
        self.monkeypatch.setattr(lifecycle, "today", lambda: day)
        self.monkeypatch.setattr(lifecycle, "utcnow", lambda: moment)

    def settle(self) -> None:
        self.session.flush()
        for model, columns in STAMPED.items():
            for name in columns:
                column = getattr(model, name)
                self.session.execute(update(model).where(column >= self.real_start)
                                     .values({name: self.moment})
                                     .execution_options(synchronize_session=False))
        self.session.expire_all()


class World:
    """The fixture's actors and the steps of a case, each at its own day."""

    def __init__(self, factory: Factory, clock: Clock):
        self.f, self.s, self.clock = factory, factory.session, clock
        self.front = Actor.staff(factory.moderator())
        self.officers = {code: Actor.staff(factory.officer(code)) for code in (X, Y, C)}

    def _do(self, day: date, action, *args, hour: int = 9, **kwargs):
        self.clock.at(day, hour)
        result = action(self.s, *args, **kwargs)
        self.clock.settle()
        return result

    def report(self, agency: str, day: date, sector: str = "construction") -> Case:
        self.clock.at(day, 8)
        case, _ = self.f.report(agency, sector=sector)
        self.clock.settle()
        return case

    def case(self, case: Case) -> Case:
        return self.s.get(Case, case.id)

    def forward(self, case: Case, agency: str, day: date) -> None:
        self._do(day, lifecycle.forward, self.case(case), self.front,
                 agency_id=self.f.agency(agency).id, recommendation="Xem xét và trả lời.")

    def acknowledge(self, case: Case, agency: str, day: date) -> None:
        self._do(day, lifecycle.acknowledge, self.case(case), self.officers[agency], hour=10)

    def answer(self, case: Case, agency: str, day: date) -> None:
        self._do(day, lifecycle.answer, self.case(case), self.officers[agency], hour=11,
                 findings="Đã kiểm tra hồ sơ.", outcome=Outcome.SUBSTANTIATED)

    def accept(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.accept_answer, self.case(case), self.front, hour=14,
                 assessment="Trả lời đầy đủ.")

    def rate(self, case: Case, day: date, overall: int) -> None:
        self._do(day, lifecycle.rate, self.case(case), Actor.reporter(case.id), hour=20,
                 scores={**dict.fromkeys(lifecycle.RATING_FACTORS, 3), "overall": overall})

    def request_transfer(self, case: Case, agency: str, to: str, day: date) -> None:
        self._do(day, lifecycle.request_transfer, self.case(case), self.officers[agency],
                 to_agency_id=self.f.agency(to).id, reason="Không thuộc thẩm quyền.")

    def approve_transfer(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.approve_transfer, self.case(case), self.front, hour=15)

    def refuse_transfer(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.refuse_transfer, self.case(case), self.front, hour=15,
                 note="Thuộc thẩm quyền của Sở.")

    def return_answer(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.return_answer, self.case(case), self.front, hour=15,
                 reason="Trả lời chưa đủ.")

    def dispute(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.dispute, self.case(case), Actor.reporter(case.id), hour=19,
                 reason="Vẫn chưa được giải quyết.")

    def uphold(self, case: Case, day: date) -> None:
        self._do(day, lifecycle.uphold_answer, self.case(case), self.front, hour=15,
                 assessment="Câu trả lời vẫn đúng.")

    def handled(self, agency: str, given: date, answered: date, overall: int | None,
                sector: str = "construction") -> Case:
        """Forwarded and acknowledged on `given`, answered and accepted on `answered`, rated."""
        case = self.report(agency, given, sector)
        self.forward(case, agency, given)
        self.acknowledge(case, agency, given)
        self.answer(case, agency, answered)
        self.accept(case, answered)
        if overall is not None:
            self.rate(case, answered, overall)
        return case


def d(month: int, day: int) -> date:
    return date(2025, month, day)


@pytest.fixture
def world(factory, session, monkeypatch) -> World:
    session.add(DeadlineRule(stage="answer", working_days=5))
    session.flush()
    return World(factory, Clock(session, monkeypatch))


def build(w: World) -> dict[str, Case]:
    """The fixture. Each line says, for an answer: working days from assignment to answer,
    the answer's deadline (5 working days after the acknowledgement), on time or late."""
    cases = {}
    # -- SO-XD (X), April --------------------------------------------------------------------
    cases["x1"] = w.handled(X, d(4, 1), d(4, 3), 5)    # 2 (2, 3 Apr); due 9 Apr: on time
    cases["x2"] = w.handled(X, d(4, 4), d(4, 9), 4)    # 2 (8, 9: 7 Apr is a holiday); due 14: on time
    cases["x3"] = w.handled(X, d(4, 14), d(4, 14), 2)  # 0; on time
    cases["x4"] = w.handled(X, d(4, 15), d(4, 25), 1)  # 8; due 22 Apr: late
    cases["x5"] = w.handled(X, d(4, 24), d(4, 28), 5)  # 3 (25, Sat 26, 28); due 5 May: on time
    cases["x6"] = w.handled(X, d(4, 21), d(4, 29), 3)  # 7 (22-26, 28, 29); due Sat 26: late
    # -- X, given in April, answered in May ----------------------------------------------------
    cases["x7"] = w.handled(X, d(4, 29), d(5, 6), 5)   # 2 (5, 6 May: 30/4-2/5 holidays); on time
    # -- X, May ----------------------------------------------------------------------------------
    cases["x8"] = w.handled(X, d(5, 5), d(5, 16), 4)   # 9; due 12 May: late
    cases["x9"] = w.handled(X, d(5, 6), d(5, 6), 4)    # 0; on time
    cases["x10"] = w.handled(X, d(5, 12), d(5, 14), 5, sector="land")  # 2; on time
    cases["x11"] = w.handled(X, d(5, 19), d(5, 21), 1, sector="land")  # 2; on time

    # X12: a transfer request the Front refused; still in progress, overdue since 15 April.
    x12 = cases["x12"] = w.report(X, d(4, 8))
    w.forward(x12, X, d(4, 8))
    w.acknowledge(x12, X, d(4, 8))
    w.request_transfer(x12, X, OTHER, d(4, 9))
    w.refuse_transfer(x12, d(4, 10))

    # X13: given to X on 7 May, which passes it to Y (approved 9 May): waits there, overdue.
    x13 = cases["x13"] = w.report(X, d(5, 7))
    w.forward(x13, X, d(5, 7))
    w.request_transfer(x13, X, Y, d(5, 8))
    w.approve_transfer(x13, d(5, 9))

    # X14: answered 13 May (1 working day, due 19 May), returned 14 May, answered again 15 May
    # (3 working days from the assignment; due 21 May after the return), accepted.
    x14 = cases["x14"] = w.report(X, d(5, 12))
    w.forward(x14, X, d(5, 12))
    w.acknowledge(x14, X, d(5, 12))
    w.answer(x14, X, d(5, 13))
    w.return_answer(x14, d(5, 14))
    w.answer(x14, X, d(5, 15))
    w.accept(x14, d(5, 15))

    # X15: answered 2 April (1 working day), accepted, disputed 3 April; the Front reopens it on
    # 6 May and X answers again on 7 May: 23 working days after 1 April, due 13 May.
    x15 = cases["x15"] = w.handled(X, d(4, 1), d(4, 2), None)
    w.dispute(x15, d(4, 3))
    w.return_answer(x15, d(5, 6))
    w.answer(x15, X, d(5, 7))
    w.accept(x15, d(5, 7))

    # -- SO-YT (Y) -------------------------------------------------------------------------------
    cases["y1"] = w.handled(Y, d(4, 2), d(4, 10), 5)   # 5 (3, 4, 8, 9, 10); due 10 Apr: on time
    cases["y2"] = w.handled(Y, d(4, 3), d(4, 17), 2)   # 9; due 11 Apr: late
    # Y3: 4 working days, on time; disputed 12 May, the Front upholds the answer.
    y3 = cases["y3"] = w.handled(Y, d(5, 5), d(5, 9), None, sector="land")
    w.dispute(y3, d(5, 12))
    w.uphold(y3, d(5, 13))
    # P: Y → X → Y, ping-pong against Y on 16 April; waits for Y's acknowledgement since.
    p = cases["p"] = w.report(Y, d(4, 10))
    w.forward(p, Y, d(4, 10))
    w.request_transfer(p, Y, X, d(4, 11))
    w.approve_transfer(p, d(4, 14))
    w.request_transfer(p, X, Y, d(4, 15))
    w.approve_transfer(p, d(4, 16))

    # -- the commune's committee: one case, never acknowledged ---------------------------------
    cases["c"] = w.report(C, d(4, 22))
    w.forward(cases["c"], C, d(4, 22))

    w.clock.at(TODAY, 12)
    w.s.commit()
    return cases


# -- computed by hand, independently of portal.stats -----------------------------------------


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The textbook Wilson score interval, 95 %, in percent."""
    z = 1.96
    p = successes / n
    centre = p + z ** 2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2))
    return 100 * (centre - spread) / (1 + z ** 2 / n), 100 * (centre + spread) / (1 + z ** 2 / n)


def shown(value: float | None) -> str:
    """A percentage as the page shows it: whole, halves up."""
    return "" if value is None else str(math.floor(value + 0.5))


X_DAYS_APRIL = [2, 2, 0, 8, 3, 7, 1]  # x1 x2 x3 x4 x5 x6 x15
X_DAYS_MAY = [2, 9, 0, 2, 2, 1, 3, 23]  # x7 x8 x9 x10 x11 x14 x14 x15
X_RATINGS = [5, 4, 2, 1, 5, 3, 5, 4, 4, 5, 1]  # x1..x11
Y_DAYS = [5, 9, 4]

BY_HAND = {
    X: dict(received=10 + 6, open_now=3, overdue_now=1,  # x12 (overdue), x14, x15 (resolved)
            answered=7 + 8, answered_on_time=5 + 7,  # late: x4 x6 | x8
            days=X_DAYS_APRIL + X_DAYS_MAY,
            transfers_requested=3, transfers_refused=1,  # x12 (refused), p (X → Y), x13
            ping_pong=0, answers_returned=2, reopened=1,  # x14; x15 after its dispute
            disputes=1, ratings=11, satisfied=7, rank=1),
    Y: dict(received=4 + 2,  # y1 y2 p p(back) | y3 x13
            open_now=2, overdue_now=2,  # p and x13, both waiting for an acknowledgement
            answered=3, answered_on_time=2, days=Y_DAYS,
            transfers_requested=1, transfers_refused=0, ping_pong=1, answers_returned=0,
            reopened=0, disputes=1, ratings=2, satisfied=1, rank=None),  # 3 answers: < 5
    C: dict(received=1, open_now=1, overdue_now=1, answered=0, answered_on_time=0, days=[],
            transfers_requested=0, transfers_refused=0, ping_pong=0, answers_returned=0,
            reopened=0, disputes=0, ratings=0, satisfied=0, rank=None),
}
LAND = {  # sector "land": x10, x11 and y3; 100 % on time each, too few answers to rank
    X: dict(received=2, open_now=3, overdue_now=1, answered=2, answered_on_time=2,
            days=[2, 2], transfers_requested=0, transfers_refused=0, ping_pong=0,
            answers_returned=0, reopened=0, disputes=0, ratings=2, satisfied=1, rank=None),
    Y: dict(received=1, open_now=2, overdue_now=2, answered=1, answered_on_time=1, days=[4],
            transfers_requested=0, transfers_refused=0, ping_pong=0, answers_returned=0,
            reopened=0, disputes=1, ratings=0, satisfied=0, rank=None),
}
APRIL = {
    X: dict(received=10, open_now=3, overdue_now=1, answered=7, answered_on_time=5,
            days=X_DAYS_APRIL, transfers_requested=2, transfers_refused=1, ping_pong=0,
            answers_returned=0, reopened=0, disputes=1, ratings=6, satisfied=3, rank=1),
}


def expected_page(figures: dict) -> dict[str, str]:
    days, answered, ratings = figures["days"], figures["answered"], figures["ratings"]
    satisfaction = 100 * figures["satisfied"] / ratings if ratings >= 10 else None
    low_high = wilson(figures["satisfied"], ratings) if ratings >= 10 else (None, None)
    return {
        "rank": "" if figures["rank"] is None else str(figures["rank"]),
        "received": str(figures["received"]), "open": str(figures["open_now"]),
        "overdue": str(figures["overdue_now"]), "answered": str(answered),
        "on_time": shown(100 * figures["answered_on_time"] / answered if answered else None),
        "median": str(nearest_rank(days, 50)) if days else "",
        "p90": str(nearest_rank(days, 90)) if days else "",
        "transfers": str(figures["transfers_requested"]),
        "refused": str(figures["transfers_refused"]), "ping_pong": str(figures["ping_pong"]),
        "returned": str(figures["answers_returned"]), "disputes": str(figures["disputes"]),
        "reopened": str(figures["reopened"]), "ratings": str(ratings),
        "satisfaction": shown(satisfaction),
        "satisfaction_low": shown(low_high[0]), "satisfaction_high": shown(low_high[1]),
    }


def page_rows(html: str) -> dict[str, dict[str, str]]:
    rows = {}
    for code, body in re.findall(r'<tr id="agency-([^"]+)">(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', body))
        low_high = re.search(r'data-low="([^"]*)" data-high="([^"]*)"', body)
        cells["satisfaction_low"], cells["satisfaction_high"] = low_high.groups()
        rows[code] = cells
    return rows


def check_row(row: stats.AgencyRow, figures: dict) -> None:
    days, answered, ratings = figures["days"], figures["answered"], figures["ratings"]
    histogram = [0] * 61
    for value in days:
        histogram[min(value, 60)] += 1
    counts = ("received", "open_now", "overdue_now", "answered", "answered_on_time",
              "transfers_requested", "transfers_refused", "ping_pong", "answers_returned",
              "reopened", "disputes", "ratings", "satisfied", "rank")
    assert {k: getattr(row, k) for k in counts} == {k: figures[k] for k in counts}, row.code
    assert list(row.answer_days) == histogram
    assert row.median_days == (nearest_rank(days, 50) if days else None)
    assert row.p90_days == (nearest_rank(days, 90) if days else None)
    if answered:
        assert row.on_time == pytest.approx(100 * figures["answered_on_time"] / answered)
    else:
        assert row.on_time is None
    if ratings >= 10:
        low, high = wilson(figures["satisfied"], ratings)
        assert row.satisfaction == pytest.approx(100 * figures["satisfied"] / ratings)
        assert row.satisfaction_low == pytest.approx(low)
        assert row.satisfaction_high == pytest.approx(high)
    else:
        assert (row.satisfaction, row.satisfaction_low, row.satisfaction_high) == (None,) * 3


def english(app):
    client = app.test_client()
    client.get("/lang/en")
    return client


def stats_rows(session) -> set[tuple]:
    session.expire_all()
    return {(r.agency_id, r.month, r.sector, *(getattr(r, n) for n in stats.COUNTS),
             tuple(r.answer_days)) for r in session.scalars(select(AgencyMonthStats))}


# -- the tests --------------------------------------------------------------------------------


def test_the_scoreboard_matches_the_figures_counted_by_hand(app, world, session):
    build(world)
    result = stats.refresh(session, all=True)
    assert result.months == [d(4, 1), d(5, 1)]

    # The hand counts themselves, checked against what the fixture says.
    assert nearest_rank(BY_HAND[X]["days"], 50) == 2 and nearest_rank(BY_HAND[X]["days"], 90) == 9
    low, high = wilson(7, 11)
    assert (round(low, 1), round(high, 1)) == (35.4, 84.8)

    rows = {row.code: row for row in stats.scoreboard(session, d(4, 1), d(5, 31), None)}
    for code, figures in BY_HAND.items():
        check_row(rows[code], figures)
    # Ranked among the departments: X alone (Y's 3 answers are fewer than 5); the others
    # follow, unranked.
    departments = [r for r in rows.values() if r.kind == AgencyKind.DEPARTMENT]
    assert {r.ranked for r in departments} == {1}
    assert sum(r.rank is None for r in departments) == len(departments) - 1
    assert rows[C].ranked == 0

    client = english(app)
    html = client.get("/agencies?from=2025-04&to=2025-05").get_data(as_text=True)
    on_page = page_rows(html)
    for code, figures in BY_HAND.items():
        assert on_page[code] == expected_page(figures), code
    # The default period: the 12 months up to today's, which holds April and May.
    assert page_rows(client.get("/agencies").get_data(as_text=True))[X] == on_page[X]
    assert "64% <small" in html and "35–85%" in html

    # One sector; and April alone, where X's 6 ratings are too few to show satisfaction.
    land = stats.scoreboard(session, d(4, 1), d(5, 1), "land")
    for row in land:
        if row.code in LAND:
            check_row(row, LAND[row.code])
    on_land = page_rows(client.get("/agencies?from=2025-04&to=2025-05&sector=land")
                        .get_data(as_text=True))
    assert {code: on_land[code] for code in LAND} == {c: expected_page(f) for c, f in LAND.items()}
    april = {row.code: row for row in stats.scoreboard(session, d(4, 1), d(4, 30), None)}
    check_row(april[X], APRIL[X])
    on_april = page_rows(client.get("/agencies?from=2025-04&to=2025-04").get_data(as_text=True))
    assert on_april[X] == expected_page(APRIL[X])
    assert on_april[X]["satisfaction"] == "" and on_april[X]["ratings"] == "6"


def test_below_ten_ratings_no_satisfaction_is_shown(app, world, session):
    build(world)
    stats.refresh(session, all=True)
    client = english(app)
    html = client.get("/agencies?from=2025-04&to=2025-05").get_data(as_text=True)
    y_row = re.search(r'<tr id="agency-SO-YT">(.*?)</tr>', html, re.S).group(1)
    satisfaction = re.search(r'data-figure="satisfaction"[^>]*>(.*?)</td>', y_row, re.S).group(1)
    assert satisfaction == "—" and "%" not in satisfaction
    page = client.get("/agencies/SO-YT?from=2025-04&to=2025-05").get_data(as_text=True)
    cell = re.search(r'<tr id="satisfaction">.*?<td([^>]*)>(.*?)</td>', page, re.S)
    assert 'data-value=""' in cell.group(1) and "Shown from 10 ratings on." in cell.group(2)
    assert "%" not in cell.group(2)


def test_the_agency_page_draws_its_trends_with_the_same_numbers(app, world, session):
    build(world)
    stats.refresh(session, all=True)
    client = english(app)
    response = client.get("/agencies/SO-XD?from=2025-04&to=2025-05")
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    figures = dict(re.findall(r'<tr id="([a-z_0-9]+)"><th scope="row">[^<]*</th><td data-value="([^"]*)"',
                              html))
    wanted = expected_page(BY_HAND[X])
    assert figures == {k: v for k, v in wanted.items()
                       if k not in ("rank", "satisfaction_low", "satisfaction_high")}
    assert "Rank 1 of 1 ranked agencies of this kind." in html
    assert 'href="/answers?agency=SO-XD"' in html
    assert "Not ranked: fewer than 5 answers in this period." in client.get(
        "/agencies/SO-YT?from=2025-04&to=2025-05").get_data(as_text=True)

    # Three charts, each an image with a title and a description, and a table behind it.
    for chart in ("chart-volume", "chart-on-time", "chart-satisfaction"):
        svg = re.search(rf'<svg class="chart" id="{chart}" role="img"[^>]*>(.*?)</svg>', html, re.S)
        assert svg, chart
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in svg.group(1)
        assert f'<desc id="{chart}-desc">' in svg.group(1)
    volume = re.search(r'id="chart-volume".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'class="chart-bar chart-series-1"', volume)) == 2  # two months
    assert len(re.findall(r'class="chart-bar chart-series-2"', volume)) == 2
    on_time = re.search(r'id="chart-on-time".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'class="chart-point"', on_time)) == 2
    satisfaction = re.search(r'id="chart-satisfaction".*?</svg>', html, re.S).group(0)
    assert "chart-point" not in satisfaction  # 6 and 5 ratings a month: too few

    def table(name: str) -> dict[str, dict[str, str]]:
        body = re.search(rf'<table class="queue" id="table-{name}">(.*?)</table>', html, re.S)
        return {month: dict(re.findall(r'data-figure="([^"]+)">([^<]*)<', row))
                for month, row in re.findall(r'<tr data-month="([^"]+)">(.*?)</tr>', body.group(1))}

    assert table("volume") == {"2025-04": {"received": "10", "answered": "7"},
                               "2025-05": {"received": "6", "answered": "8"}}
    assert table("on-time") == {
        "2025-04": {"answered": "7", "answered_on_time": "5", "on_time": shown(500 / 7) + "%"},
        "2025-05": {"answered": "8", "answered_on_time": "7", "on_time": shown(700 / 8) + "%"}}
    # 6 and 5 ratings: neither the share nor the count of the satisfied is shown.
    assert table("satisfaction") == {
        "2025-04": {"ratings": "6", "satisfied": "—", "satisfaction": "—"},
        "2025-05": {"ratings": "5", "satisfied": "—", "satisfaction": "—"}}
    # The same numbers the chart's points stand for: the y of 71 % and 88 % on a 0-100 axis.
    chart = re.search(r'id="chart-on-time".*?</svg>', html, re.S).group(0)
    top, bottom = 34, 260 - 40
    ys = [float(y) for y in re.findall(r'class="chart-point" cx="[^"]+" cy="([^"]+)"', chart)]
    assert ys == [round(bottom - (bottom - top) * share / 100, 1) for share in (500 / 7, 700 / 8)]

    assert client.get("/agencies/NO-SUCH-AGENCY").status_code == 404


def test_refresh_is_idempotent_and_picks_up_new_cases(app, world, session):
    build(world)
    stats.refresh(session, all=True)
    first = stats_rows(session)
    assert first  # rows for X, Y, C in April and May
    stats.refresh(session, all=True)
    assert stats_rows(session) == first
    result = stats.refresh(session)  # the job's default: this month and the last
    assert result.months == [d(4, 1), d(5, 1)]
    assert stats_rows(session) == first
    client, path = app.test_client(), "/agencies?from=2025-04&to=2025-05"
    before = client.get(path).get_data(as_text=True)
    assert page_rows(before)[Y]["received"] == "6"
    assert client.get(path).get_data(as_text=True) == before  # the same figures, the same page

    # A new case for Y on 29 May, and a rating of 5 for x14 the same day (its last to rate).
    case = world.report(Y, d(5, 29))
    world.forward(case, Y, d(5, 29))
    x14 = session.scalars(select(Case).where(Case.status == "resolved",
                                             Case.assigned_agency_id == world.f.agency(X).id)
                          .order_by(Case.id)).first()
    world.rate(x14, d(5, 29), 5)
    world.clock.at(TODAY, 12)
    session.commit()
    stats.refresh(session)
    rows = {row.code: row for row in stats.scoreboard(session, d(4, 1), d(5, 31), None)}
    assert (rows[Y].received, rows[Y].open_now, rows[Y].overdue_now) == (7, 3, 2)
    # The page's tables, rendered once per set of figures, show the new ones at once.
    assert page_rows(client.get(path).get_data(as_text=True))[Y]["received"] == "7"
    assert (rows[X].ratings, rows[X].satisfied, rows[X].open_now) == (12, 8, 2)
    assert rows[X].satisfaction == pytest.approx(100 * 8 / 12)


def test_a_refused_transfer_of_an_older_month_is_picked_up(app, world, session):
    """A request made in March and refused in May changes March's row: the default refresh
    recomputes every month whose requests were decided since the start of last month."""
    case = world.report(X, d(3, 28))
    world.forward(case, X, d(3, 28))
    world.request_transfer(case, X, OTHER, d(3, 31))
    world.clock.at(TODAY)
    session.commit()
    stats.refresh(session, all=True)
    march = next(r for r in stats.scoreboard(session, d(3, 1), d(3, 1), None) if r.code == X)
    assert (march.transfers_requested, march.transfers_refused) == (1, 0)
    world.refuse_transfer(case, d(5, 2))
    world.clock.at(TODAY)
    session.commit()
    assert stats.refresh(session).months == [d(3, 1), d(4, 1), d(5, 1)]
    march = next(r for r in stats.scoreboard(session, d(3, 1), d(3, 1), None) if r.code == X)
    assert (march.transfers_requested, march.transfers_refused) == (1, 1)


def _fill(session, agencies: list[Agency], months: list[date]) -> None:
    """Aggregates written directly: as many agencies, months and sectors as wanted."""
    session.execute(AgencyMonthStats.__table__.delete())
    for agency in agencies:
        for month in months:
            for sector in ("land", "health"):
                days = [0] * 61
                days[agency.id % 7] = 3
                session.add(AgencyMonthStats(
                    agency_id=agency.id, month=month, sector=sector, received=5, answered=3,
                    answered_on_time=agency.id % 4, answer_days=days, transfers_requested=1,
                    transfers_refused=0, ping_pong=0, answers_returned=1, disputes=0,
                    reopened=0, ratings=6, satisfied=agency.id % 6))
    session.commit()
    stats.refresh_snapshots(session)


def _statements(app, client, path: str) -> int:
    statements = []

    def count(*_args):
        statements.append(1)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return len(statements)


def test_the_pages_issue_a_bounded_number_of_queries(app, session, monkeypatch):
    monkeypatch.setattr(deadlines, "today", lambda: TODAY)
    months = [d(m, 1) for m in range(1, 6)]
    agencies = list(session.scalars(select(Agency).order_by(Agency.id)))
    client = english(app)
    few, many = {}, {}
    for counts, chosen in ((few, agencies[:2]), (many, agencies)):
        _fill(session, chosen, months)
        for path in ("/agencies", "/agencies?sort=on_time&order=asc&sector=land",
                     f"/agencies/{agencies[0].code}"):
            counts[path] = _statements(app, client, path)
    assert few == many
    assert few["/agencies"] <= 3 and few[f"/agencies/{agencies[0].code}"] <= 5
    # Every agency is on the page, with its figures.
    html = client.get("/agencies").get_data(as_text=True)
    assert len(page_rows(html)) == len(agencies)


def test_equal_records_share_a_rank_and_few_answers_are_not_ranked(app, session):
    communes = list(session.scalars(select(Agency).where(Agency.kind == AgencyKind.COMMUNE_COMMITTEE)
                                    .order_by(Agency.id).limit(7)))
    c = [agency.id for agency in communes]
    month = d(5, 1)
    figures = {  # (answered, on time, ratings, satisfied)
        c[0]: (10, 5, 10, 5),    # 50 %, satisfaction 50 %
        c[1]: (6, 3, 10, 9),     # 50 %, satisfaction 90 %: before c0
        c[2]: (20, 10, 3, 3),    # 50 %, too few ratings: after c0
        c[3]: (5, 5, 0, 0),      # 100 %: first
        c[4]: (8, 8, 0, 0),      # 100 %: first too, whatever its name
        c[5]: (4, 4, 10, 10),    # 100 %, but 4 answers: not ranked
        c[6]: (12, 6, 10, 5),    # the same record as c0: the same rank
    }
    for agency_id, (answered, on_time, ratings, satisfied) in figures.items():
        session.add(AgencyMonthStats(
            agency_id=agency_id, month=month, sector="land", received=answered,
            answered=answered, answered_on_time=on_time, answer_days=[answered] + [0] * 60,
            transfers_requested=0, transfers_refused=0, ping_pong=0, answers_returned=0,
            disputes=0, reopened=0, ratings=ratings, satisfied=satisfied))
    session.commit()
    rows = [r for r in stats.scoreboard(session, month, month, None)
            if r.kind == AgencyKind.COMMUNE_COMMITTEE]
    ranks = {r.agency_id: r.rank for r in rows}
    assert {i: ranks[c[i]] for i in range(7)} == {3: 1, 4: 1, 1: 3, 0: 4, 6: 4, 2: 6, 5: None}
    # Ranked first, by rank, and by name within a shared rank; then the others, by name.
    assert [r.rank for r in rows[:6]] == [1, 1, 3, 4, 4, 6]
    for first, second in zip(rows[:6], rows[1:6], strict=False):
        if first.rank == second.rank:
            assert first.name.casefold() <= second.name.casefold()
    assert all(r.rank is None for r in rows[6:]) and {r.ranked for r in rows} == {6}
    unranked = [r.name.casefold() for r in rows[6:]]
    assert unranked == sorted(unranked)

    client = english(app)
    base = "/agencies?from=2025-05&to=2025-05&kind=commune_committee"
    html = client.get(base).get_data(as_text=True)
    on_page = page_rows(html)
    assert [on_page[communes[i].code]["rank"] for i in (3, 4, 0, 6, 5)] == ["1", "1", "4", "4", ""]
    assert "An agency with fewer than 5 answers in the period is not ranked." in html
    page = client.get(f"/agencies/{communes[4].code}?from=2025-05&to=2025-05").get_data(as_text=True)
    assert "Rank 1 of 6 ranked agencies of this kind." in page
    page = client.get(f"/agencies/{communes[5].code}?from=2025-05&to=2025-05").get_data(as_text=True)
    assert "Not ranked: fewer than 5 answers in this period." in page
    # A month of 10 ratings shows its count of the satisfied; one of 3 does not.
    for index, satisfied in ((1, "9"), (2, "—")):
        page = client.get(f"/agencies/{communes[index].code}?from=2025-05&to=2025-05")
        cells = re.search(r'id="table-satisfaction">.*?<tr data-month="2025-05">(.*?)</tr>',
                          page.get_data(as_text=True), re.S).group(1)
        assert f'data-figure="satisfied">{satisfied}<' in cells, index

    # Sorting by a column keeps agencies without a value last, in both directions.
    for order in ("asc", "desc"):
        html = client.get(f"{base}&sort=satisfaction&order={order}").get_data(as_text=True)
        shares = [float(row["satisfaction"]) if row["satisfaction"] else None
                  for row in page_rows(html).values()]
        present = [share for share in shares if share is not None]
        assert len(present) == 4 and shares[:4] == present
        assert present == sorted(present, reverse=order == "desc")
    # The kind filter leaves the other kinds out.
    assert 'id="table-department"' not in html and 'id="table-commune_committee"' in html


def test_the_agency_page_links_to_its_published_answers_by_route(app):
    # Behind a path prefix (SCRIPT_NAME), a link written by hand would miss the prefix.
    client = english(app)
    html = client.get("/agencies/SO-XD", base_url="http://portal.test/portal").get_data(
        as_text=True)
    assert 'href="/portal/answers?agency=SO-XD"' in html
    assert 'href="/answers?' not in html


def test_percentiles_and_the_interval():
    histogram = [0] * 61
    for value in (0, 1, 1, 2, 75, 80):
        histogram[min(value, 60)] += 1
    assert stats.percentile(histogram, 50) == 1  # the 3rd of 6
    assert stats.percentile(histogram, 90) == 60  # the 6th: 60 or more
    assert stats.percentile([0] * 61, 50) is None
    low, high = stats.wilson_interval(7, 11)
    assert (low, high) == pytest.approx(wilson(7, 11))
    assert stats.wilson_interval(0, 0) is None


@pytest.mark.parametrize(("path", "field"), [
    ("/agencies?from=2025-13", "from"), ("/agencies?to=April", "to"),
    ("/agencies?from=2025-05&to=2025-04", "to"), ("/agencies?from=2020-01&to=2025-01", "to"),
    ("/agencies?sector=nowhere", "sector"),
    # Months the calendar cannot hold, or years outside 2000 to 2100.
    ("/agencies?from=0000-01", "from"), ("/agencies?to=0001-05", "to"),
    ("/agencies?from=9999-01&to=9999-12", "from"), ("/agencies/SO-XD?to=0001-03", "to"),
    ("/agencies?from=1999-12", "from"), ("/agencies/SO-XD?from=2101-01", "from"),
    ("/agencies?from=%D9%A2%D9%A0%D9%A2%D9%A5-01", "from"),  # not ASCII digits
])
def test_bad_periods_are_refused_next_to_the_field(app, path, field):
    response = english(app).get(path)
    assert response.status_code == 400, path
    html = response.get_data(as_text=True)
    assert re.search(rf'<ul class="field-errors" id="{field}-error">', html), path
    assert html.count('class="field-errors"') == 1


@pytest.mark.parametrize("query", ["to=2000-01", "from=2100-12", "from=2098-12&to=2100-11"])
def test_the_ends_of_the_years_allowed_are_shown(app, query):
    client = english(app)
    assert client.get(f"/agencies?{query}").status_code == 200
    assert client.get(f"/agencies/SO-XD?{query}").status_code == 200


def test_the_job_and_the_command(app, runner, world, session):
    assert next(j for j in jobs.PERIODIC_JOBS if j.name == "stats-refresh").interval \
        == timedelta(minutes=10)
    build(world)
    with app.app_context():
        done = jobs.refresh_stats()  # no aggregate yet: every month
    assert done["months"] == ["2025-04-01", "2025-05-01"]
    rows = stats_rows(session)
    result = runner.invoke(args=["stats", "refresh", "--all"])
    assert result.exit_code == 0, result.output
    assert "statistics refreshed for 2 month(s), 2025-04 to 2025-05" in result.output
    assert stats_rows(session) == rows
    session.expire_all()
    assert session.get(AgencySnapshot, world.f.agency(X).id).overdue_now == 1


def test_an_inactive_agency_keeps_its_page_but_leaves_the_scoreboard(app, session):
    agency = session.scalars(select(Agency).where(Agency.code == "SO-DL")).one()
    agency.active = False
    session.commit()
    try:
        client = english(app)
        page = client.get("/agencies/SO-DL")
        assert page.status_code == 200
        assert "Not ranked: fewer than 5 answers in this period." in page.get_data(as_text=True)
        assert "SO-DL" not in page_rows(client.get("/agencies").get_data(as_text=True))
    finally:
        agency.active = True  # the agencies are reference data, shared by every test
        session.commit()
