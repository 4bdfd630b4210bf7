# ruff: noqa: S311, S608 - simulated data from a seeded PRNG; SQL built from the bench's own constants
"""Fill the bench database with a city's worth of cases, fast, as the portal would have written them.

    python -m bench.seed --cases 100000

1. Drop and create the `bench` database; build the schema with the portal's migrations
   (`portal.migrate.upgrade`) and the reference data with `portal.seed.seed_agencies`, as
   `flask db upgrade` and `flask seed agencies` do.
2. Staff: a moderator (or a few) per Front committee, supervisors, a head and two officers per
   agency; one argon2 hash shared by all, computed once.
3. Cases: each case's history is simulated, step by step, with the lifecycle's rules
   (`portal.lifecycle`): triage by the Front within its deadline or late, questions to the
   reporter and the paused clock, rejections and merges, forwards, acknowledgements, named
   officers, extensions, transfer requests approved or refused (and ping-pong), answers on
   time or late, answers returned, publication, ratings, disputes, rating windows that end,
   and every rung of the escalation ladder the sweep would have climbed. Deadlines are
   counted in working days with the portal's own `WorkingCalendar`. Every step is a
   hash-chained `CaseEvent` exactly as `lifecycle.record` writes it (so `flask audit verify`
   passes), with the `Assignment`, `Answer`, `TransferRequest` and `Rating` rows it implies.
   The simulation stands as of the last sweep of yesterday: what falls due today is left for
   the benchmark's own sweep, as in production.
4. The rows go in with PostgreSQL COPY, the bulk tables' indexes and constraints dropped
   first and re-created afterwards from their own definitions (`pg_get_indexdef`,
   `pg_get_constraintdef`), so the schema ends exactly as the migrations made it.
5. VACUUM ANALYZE, then `stats.refresh(all=True)` (`flask stats refresh --all`) so the
   scoreboard has its monthly aggregates and snapshots.

Spread: three years of cases, more recent than old (the portal grows); agencies by a
skewed weight (a few departments and wards get most reports); sectors follow the
department; every commune has reports; agencies differ in how late they answer.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import hashlib
import json
import math
import random
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bench import common
from portal.audit import GENESIS
from portal.db import utcnow
from portal.deadlines import WorkingCalendar
from portal.search import fold
from portal.vocab import DEFAULT_DEADLINE_DAYS

SPAN_DAYS = 3 * 365
BULK_TABLES = ("cases", "case_events", "assignments", "answers", "transfer_requests", "ratings")
HANOI_OFFSET = timedelta(hours=7)
DAYS = {str(stage): days for stage, days in DEFAULT_DEADLINE_DAYS.items()}
AGENCY_RUNGS = ((1, "officer", 1), (2, "head", 3), (3, "supervisor", 5))
AGENCY_STAGES = frozenset({"forwarded", "in_progress"})
FRONT_STAGES = frozenset({"submitted", "transfer_requested", "answered", "disputed"})
SCORES = ("access", "procedure", "attitude", "result", "handling", "overall")


# -- text ---------------------------------------------------------------------------------------

REQUESTS = (
    "Tôi nộp hồ sơ xin cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Gia đình tôi nộp hồ sơ đề nghị cấp giấy chứng nhận quyền sử dụng đất",
    "Tôi đăng ký khai sinh cho con",
    "Công ty chúng tôi nộp hồ sơ đăng ký thay đổi nội dung đăng ký doanh nghiệp",
    "Tôi phản ánh việc cống thoát nước trước nhà bị vỡ và ngập úng kéo dài",
    "Tôi đề nghị xác nhận hộ cận nghèo để con được miễn học phí",
    "Tôi xin chứng thực bản sao giấy tờ nhà đất",
    "Mẹ tôi nộp hồ sơ hưởng trợ cấp xã hội cho người cao tuổi",
    "Doanh nghiệp chúng tôi xin điều chỉnh chủ trương đầu tư dự án",
    "Tôi phản ánh việc rác thải tồn đọng ở điểm tập kết đầu ngõ",
    "Tôi xin cấp phép sửa chữa, cải tạo nhà",
    "Tôi đề nghị giải quyết tranh chấp ranh giới đất với nhà bên cạnh",
    "Tôi đăng ký thường trú cho vợ và con",
    "Tôi xin giấy phép kinh doanh dịch vụ ăn uống",
    "Chúng tôi phản ánh công trình xây dựng trái phép gây nứt nhà liền kề",
    "Tôi nộp hồ sơ chuyển trường cho con",
    "Tôi đề nghị cấp đổi giấy phép lái xe",
    "Tôi nộp hồ sơ xin hoàn thuế thu nhập cá nhân",
    "Chúng tôi đề nghị sửa đèn chiếu sáng công cộng hỏng trên tuyến phố",
    "Tôi nộp hồ sơ xin cấp phép khai thác nước ngầm",
)
CHANNELS = (
    "tại Bộ phận một cửa", "tại Trung tâm phục vụ hành chính công", "qua Cổng dịch vụ công",
    "trực tiếp tại trụ sở", "qua đường bưu điện", "tại phòng tiếp công dân",
)
WHEN = (
    "từ ba tuần trước", "từ đầu tháng trước", "đã hơn hai tháng", "từ cuối năm ngoái",
    "cách đây 45 ngày", "theo giấy hẹn 15 ngày làm việc",
)
WHAT = (
    "nhưng đến nay vẫn chưa được giải quyết và không ai cho biết lý do",
    "cán bộ yêu cầu bổ sung giấy tờ không có trong quy định",
    "cán bộ hướng dẫn tôi sang cơ quan khác, cơ quan đó lại trả về đây",
    "hồ sơ bị trả lại nhiều lần mà không có văn bản nêu rõ lý do",
    "gọi điện nhiều lần không ai nghe máy, đến trực tiếp thì được hẹn tuần sau",
    "cán bộ tiếp nhận có thái độ thiếu tôn trọng và gây khó dễ",
    "hai phòng chuyên môn đều nói không thuộc thẩm quyền của mình",
    "đã quá hạn trả kết quả ghi trên giấy biên nhận",
)
ASKS = (
    "Đề nghị làm rõ trách nhiệm của cán bộ và trả lời bằng văn bản.",
    "Tôi mong cơ quan giải quyết dứt điểm trong thời gian sớm nhất.",
    "Đề nghị Mặt trận giám sát việc giải quyết.",
    "Gia đình tôi đang chịu thiệt hại vì sự chậm trễ này.",
    "Xin cho biết hồ sơ đang vướng ở khâu nào và do ai xử lý.",
)
STREETS = (
    "phố Hàng Bạc", "đường Láng", "ngõ 68 Cầu Giấy", "phố Kim Mã", "đường Nguyễn Trãi",
    "phố Huế", "đường Giải Phóng", "ngõ 165 Thái Hà", "đường Phạm Văn Đồng", "phố Lò Đúc",
    "đường Tây Sơn", "ngõ Văn Chương", "đường Hoàng Quốc Việt", "phố Đội Cấn", "đường Quang Trung",
)
RECOMMENDATIONS = (
    "Đề nghị cơ quan kiểm tra tiến độ giải quyết hồ sơ, trả lời người dân bằng văn bản và làm "
    "rõ trách nhiệm của cá nhân để chậm trễ.",
    "Đề nghị cơ quan xác minh nội dung phản ánh, xử lý theo quy định và báo cáo kết quả.",
    "Đề nghị rà soát quy trình tiếp nhận, không yêu cầu giấy tờ ngoài quy định.",
)
FINDINGS = (
    "Qua kiểm tra, hồ sơ đã quá hạn do bộ phận chuyên môn chưa hoàn thành thẩm định.",
    "Qua xác minh, nội dung phản ánh là đúng một phần; cán bộ đã yêu cầu bổ sung giấy tờ chưa "
    "đúng quy định.",
    "Qua kiểm tra thực tế, nội dung phản ánh không có cơ sở; hồ sơ đang trong thời hạn giải quyết.",
    "Cơ quan đã làm việc với người phản ánh và thống nhất phương án giải quyết.",
)
ACTIONS = (
    "Đã trả kết quả cho người dân và kiểm điểm cán bộ liên quan.",
    "Đã chấn chỉnh bộ phận một cửa và công khai quy trình.",
    "Đã sửa chữa xong và giao tổ dân phố theo dõi.",
    "",
)
QUESTIONS = ("Đề nghị cho biết số biên nhận hồ sơ và ngày nộp.",
             "Đề nghị cung cấp địa chỉ cụ thể nơi xảy ra sự việc.")
REPLIES = ("Số biên nhận của tôi là 0123/BN, nộp ngày ghi trên giấy hẹn.",
           "Địa chỉ là đầu ngõ, cạnh nhà văn hóa tổ dân phố.")
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Phạm Quốc Dũng", "Hoàng Thu Hà",
         "Vũ Đức Long", "Đặng Thị Mai", "Bùi Văn Nam", "Đỗ Thị Oanh", "Ngô Quang Phúc")
SECTORS_OF = {
    "SO-NV": ("other", "social_welfare"), "SO-TP": ("justice",), "SO-TC": ("tax_finance",),
    "SO-CT": ("business_registration", "investment"), "SO-NNMT": ("land", "environment"),
    "SO-XD": ("construction", "land"), "SO-KHCN": ("other",), "SO-VHTT": ("culture",),
    "SO-GDDT": ("education",), "SO-YT": ("health",), "SO-DTTG": ("other", "culture"),
    "SO-DL": ("culture", "business_registration"), "SO-QHKT": ("construction", "land"),
    "TTR-TP": ("land", "construction", "other"), "VP-UBND": ("other", "investment"),
    "UBND-HN": ("investment", "land", "other"),
}
COMMUNE_SECTORS = ("land", "construction", "justice", "environment", "social_welfare",
                   "education", "transport", "health", "business_registration", "other")
CONDUCTS = (("slow_handling", 30), ("shirking", 18), ("buck_passing", 14), ("harassment", 9),
            ("attitude", 10), ("omission", 7), ("overlap", 5), ("other", 7))


def _folded(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # Folding is character by character and spaces are single: the fold of a sentence is the
    # folds of its pieces joined the same way, so each piece is folded once.
    return tuple((item, fold(item)) for item in items)


# -- the calendar, as arrays ---------------------------------------------------------------------


class Calendar:
    """`WorkingCalendar` over a span of days, answered by lookup instead of loops."""

    def __init__(self, first: date, last: date, calendar: WorkingCalendar):
        self.first = first
        self.days: list[date] = []  # the working days, in order
        self.upto: list[int] = []  # working days in [first, first + i], by day index
        day, count = first, 0
        while day <= last:
            if calendar.is_working_day(day):
                self.days.append(day)
                count += 1
            self.upto.append(count)
            day += timedelta(days=1)

    def index(self, day: date) -> int:
        return self.upto[(day - self.first).days]

    def add(self, day: date, days: int) -> date:
        """As `WorkingCalendar.add_working_days`."""
        if days == 0:
            return day
        return self.days[self.index(day) + days - 1]

    def between(self, start: date, end: date) -> int:
        """As `WorkingCalendar.working_days_between`."""
        return max(0, self.index(end) - self.index(start))


def hanoi_day(moment: datetime) -> date:
    return (moment + HANOI_OFFSET).date()


def at_hanoi(day: date, hours: float) -> datetime:
    """A Hanoi time of day, as stored: naive UTC."""
    return datetime(day.year, day.month, day.day) + timedelta(hours=hours) - HANOI_OFFSET


def sweep_moment(day: date) -> datetime:
    """The first run of the sweep on a Hanoi day (it runs every 15 minutes)."""
    return at_hanoi(day, 0.12)


# -- the people ----------------------------------------------------------------------------------


@dataclass
class World:
    agencies: list[tuple[int, str, str, int | None]]  # id, code, kind, ward_code
    weights: list[float]
    committee_of: dict[int, int]  # agency id -> front committee id
    moderators: dict[int, list[int]]  # committee id -> moderators
    heads: dict[int, int]  # agency id -> head
    officers: dict[int, list[int]]
    quality: dict[int, float]  # agency id -> how slowly it works (1: as most do)
    city_committee: int
    communes: list[int]
    commune_names: dict[int, str]
    departments: list[int]  # agency ids of city departments and bodies
    commune_agency: dict[int, int]  # ward code -> UBND agency id


def _pick_weights(rng: random.Random, agencies) -> list[float]:
    """A few agencies get most of the reports: a Zipf-like weight, departments heavier."""
    order = list(range(len(agencies)))
    rng.shuffle(order)
    weights = [0.0] * len(agencies)
    for rank, index in enumerate(order, start=1):
        kind = agencies[index][2]
        base = 1 / rank ** 0.6
        weights[index] = base * (6 if kind in ("department", "city_body") else
                                 3 if kind == "city_committee" else 1)
    return weights


def seed_staff(session, rng: random.Random) -> World:
    """Staff accounts for every committee and agency, and who acts for whom in the simulation."""
    from portal.accounts import hash_password
    from portal.models import Agency, FrontCommittee, User
    from portal.seed import hanoi_communes

    password_hash = hash_password(common.PASSWORD)
    agencies = session.execute(select(Agency.id, Agency.code, Agency.kind, Agency.ward_code)
                               .order_by(Agency.id)).all()
    committees = session.execute(select(FrontCommittee.id, FrontCommittee.code,
                                        FrontCommittee.ward_code)).all()
    by_ward = {ward: cid for cid, _code, ward in committees if ward is not None}
    city = next(cid for cid, _code, ward in committees if ward is None)
    users: list[dict[str, Any]] = []

    def add(email: str, role: str, name: str, **org: int) -> None:
        users.append({"email": email, "role": role, "name": name, "password_hash": password_hash,
                      "agency_id": org.get("agency_id"),
                      "front_committee_id": org.get("front_committee_id")})

    add(common.MODERATOR, "moderator", "Nguyễn Thị Hồng Nhung", front_committee_id=city)
    for i in range(1, 6):
        add(f"moderator{i}@bench.example.org", "moderator", f"Kiểm duyệt viên {i}",
            front_committee_id=city)
    for i in range(1, 3):
        add(f"supervisor{i}@bench.example.org", "supervisor", f"Giám sát viên {i}",
            front_committee_id=city)
    for cid, code, ward in committees:
        if ward is not None:
            add(f"moderator.{code.lower()}@bench.example.org", "moderator", f"Kiểm duyệt {code}",
                front_committee_id=cid)
            add(f"supervisor.{code.lower()}@bench.example.org", "supervisor", f"Giám sát {code}",
                front_committee_id=cid)
    for aid, code, _kind, _ward in agencies:
        add(f"head.{code.lower()}@bench.example.org", "agency_head", f"Thủ trưởng {code}",
            agency_id=aid)
        for i in (1, 2):
            add(f"officer{i}.{code.lower()}@bench.example.org", "agency_officer",
                f"Cán bộ {i} {code}", agency_id=aid)
    session.execute(User.__table__.insert(), users)
    session.commit()

    moderators: dict[int, list[int]] = {}
    heads: dict[int, int] = {}
    officers: dict[int, list[int]] = {}
    for uid, role, aid, fid in session.execute(
            select(User.id, User.role, User.agency_id, User.front_committee_id)):
        if role == "moderator":
            moderators.setdefault(fid, []).append(uid)
        elif role == "agency_head":
            heads[aid] = uid
        elif role == "agency_officer":
            officers.setdefault(aid, []).append(uid)
    agency_rows = [tuple(row) for row in agencies]
    return World(
        agencies=agency_rows, weights=_pick_weights(rng, agency_rows),
        committee_of={aid: by_ward.get(ward, city) if ward else city
                      for aid, _c, _k, ward in agency_rows},
        moderators=moderators, heads=heads, officers=officers,
        quality={aid: rng.lognormvariate(0, 0.35) for aid, *_ in agency_rows},
        city_committee=city,
        communes=[c.code for c in hanoi_communes()],
        commune_names={c.code: c.name for c in hanoi_communes()},
        departments=[aid for aid, _c, kind, _w in agency_rows
                     if kind in ("department", "city_body")],
        commune_agency={ward: aid for aid, _c, kind, ward in agency_rows if ward is not None},
    )


# -- one case's history --------------------------------------------------------------------------


@dataclass
class Rows:
    cases: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    assignments: list[tuple] = field(default_factory=list)
    answers: list[tuple] = field(default_factory=list)
    transfers: list[tuple] = field(default_factory=list)
    ratings: list[tuple] = field(default_factory=list)

    def clear(self) -> None:
        for rows in (self.cases, self.events, self.assignments, self.answers, self.transfers,
                     self.ratings):
            rows.clear()


class Stop(Exception):
    """The simulation reached the present: the case stays as it is now."""


class Simulator:
    """Walks each case through the lifecycle, writing the rows the portal would have written."""

    def __init__(self, world: World, calendar: Calendar, now: datetime, seed: int):
        self.world = world
        self.cal = calendar
        self.now = now
        self.today = hanoi_day(now)
        self.rng = random.Random(seed)
        self.rows = Rows()
        self.next_event = self.next_assignment = self.next_answer = 1
        self.next_transfer = self.next_rating = 1
        self.requests = _folded(REQUESTS)
        self.channels = _folded(CHANNELS)
        self.when = _folded(WHEN)
        self.what = _folded(WHAT)
        self.asks = _folded(ASKS)
        self.streets = _folded(STREETS)
        self.findings = _folded(FINDINGS)
        self.actions = _folded(ACTIONS)
        self.commune_folds = {code: (name, fold(name)) for code, name in world.commune_names.items()}
        self.cumulative = list(_cumulative(world.weights))
        self.conducts = [c for c, _w in CONDUCTS]
        self.conduct_weights = list(_cumulative([w for _c, w in CONDUCTS]))
        self.dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
        start = self.today - timedelta(days=SPAN_DAYS)
        self.start = datetime(start.year, start.month, start.day) - HANOI_OFFSET

    # -- time --

    def created_moment(self) -> datetime:
        # Growth: more reports lately (density rising linearly over the span).
        fraction = math.sqrt(self.rng.random())
        moment = self.start + (self.now - self.start) * fraction
        return min(moment, self.now - timedelta(seconds=1))

    def later(self, moment: datetime, working_days: int) -> datetime:
        """A moment during office hours `working_days` working days after `moment`'s day."""
        rng = self.rng
        if working_days <= 0:
            return moment + timedelta(minutes=rng.uniform(10, 300))
        day = self.cal.add(hanoi_day(moment), working_days)
        return at_hanoi(day, rng.uniform(8.0, 17.0))

    # -- writing --

    def event(self, moment: datetime, actor_kind: str, actor_id: int | None, action: str,
              to_status: str | None = None, reason: str | None = None,
              data: dict[str, Any] | None = None) -> None:
        from_status = self.status
        if to_status is not None:
            self.status = to_status
        self.seq += 1
        # `audit.event_hash`'s canonical JSON (sorted keys, no spaces, UTF-8), written out by
        # hand: the fixed keys in their sorted order, only the data dict through the encoder.
        encoded = self.dumps(data) if data else "{}"
        body = (f'{{"action":"{action}","actor_id":{"null" if actor_id is None else actor_id},'
                f'"actor_kind":"{actor_kind}","case_id":{self.case_id},'
                f'"created_at":"{moment.isoformat(timespec="microseconds")}","data":{encoded},'
                f'"from_status":{_quoted(from_status)},"prev_hash":"{self.head}",'
                f'"reason":{_quoted(reason)},"seq":{self.seq},"to_status":"{self.status}"}}')
        digest = hashlib.sha256(body.encode()).hexdigest()
        self.rows.events.append((self.next_event, self.case_id, self.seq, moment, actor_kind,
                                 actor_id, action, from_status, self.status, reason,
                                 encoded, self.head, digest))
        self.next_event += 1
        self.head = digest
        self.updated = moment

    def set_deadline(self, stage: str | None, moment: datetime | None = None,
                     due_on: date | None = None) -> dict[str, Any]:
        if stage is None:
            self.due_stage = self.due_on = None
            self.level = 0
            return {}
        if due_on is None:
            due_on = self.cal.add(hanoi_day(moment), DAYS[stage])
        self.due_stage, self.due_on, self.level = stage, due_on, 0
        return {"due_stage": stage, "due_on": due_on.isoformat()}

    def at(self, moment: datetime) -> datetime:
        """Move the clock to `moment`: the sweep acts on what fell due before; Stop at present."""
        present = moment >= self.now
        if self.due_on is not None and self.paused_on is None:
            if self.status in AGENCY_STAGES or self.status in FRONT_STAGES:
                self._escalations(moment, present)
            elif self.status == "resolved":
                day = self.due_on + timedelta(days=1)
                when = sweep_moment(day)
                if (day < self.today) if present else (when < moment):
                    self.close(when)
                    self.event(when, "system", None, "close_unrated", to_status="closed")
                    raise Stop
        if present:
            raise Stop
        return moment

    def _escalations(self, moment: datetime, present: bool) -> None:
        front = self.status in FRONT_STAGES
        for level, step, days in AGENCY_RUNGS:
            if level <= self.level or (front and level < 3):
                continue
            day = self.cal.add(self.due_on, 1 if front else days)
            when = sweep_moment(day)
            # The seeded world stands as of yesterday's last sweep: today's is the benchmark's.
            if not ((day < self.today) if present else (when < moment)):
                return
            self.level = level
            self.event(when, "system", None, "escalate",
                       data={"step": step, "stage": self.due_stage,
                             "missed": self.due_on.isoformat()})

    def close(self, moment: datetime) -> None:
        self.paused_on = None
        self.set_deadline(None)
        if self.assignment is not None:
            self.end_assignment(moment, "closed")
        self.closed_at = moment

    def assign(self, moment: datetime, agency_id: int, actor: int, recommendation: str) -> dict:
        held_before = agency_id in self.held
        if held_before:
            self.ping_pong = True
        self.held.add(agency_id)
        self.assignment = [self.next_assignment, self.case_id, agency_id, actor, recommendation,
                           moment, None, None, None, None, None]
        self.rows.assignments.append(self.assignment)
        self.next_assignment += 1
        self.assigned_agency = agency_id
        self.officer = None
        data = {"agency_id": agency_id}
        if held_before:
            data["ping_pong"] = True
        return data

    def end_assignment(self, moment: datetime, reason: str) -> None:
        self.assignment[9], self.assignment[10] = moment, reason
        self.assignment = None

    # -- the case --

    def case(self, case_id: int) -> None:
        rng, world = self.rng, self.world
        self.case_id = case_id
        self.status, self.seq, self.head = "submitted", 0, GENESIS
        self.due_stage = self.due_on = self.paused_on = None
        self.level = 0
        self.assignment = None
        self.assigned_agency = self.officer = self.claimed = self.merged_into = None
        self.redacted = self.reject_reason = self.reject_note = None
        self.published_at = self.closed_at = None
        self.public_search = ""
        self.ping_pong = False
        self.held: set[int] = set()

        agency_id, code, kind, ward = world.agencies[
            bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]
        committee = world.committee_of[agency_id]
        self.committee = committee
        sectors = SECTORS_OF.get(code, COMMUNE_SECTORS)
        sector = rng.choice(sectors) if rng.random() < 0.85 else rng.choice(COMMUNE_SECTORS)
        conduct = self.conducts[bisect.bisect(self.conduct_weights,
                                              rng.random() * self.conduct_weights[-1])]
        ward_code = ward if ward is not None else (
            rng.choice(world.communes) if rng.random() < 0.7 else None)
        created = self.created_moment()
        self.updated = created

        request, f_request = rng.choice(self.requests)
        channel, f_channel = rng.choice(self.channels)
        when, f_when = rng.choice(self.when)
        what, f_what = rng.choice(self.what)
        ask, f_ask = rng.choice(self.asks)
        description = f"{request} {channel} {when}, {what}. {ask}"
        folded = f"{f_request} {f_channel} {f_when}, {f_what}. {f_ask}"
        address = ""
        if ward_code is not None and rng.random() < 0.8:
            street, f_street = rng.choice(self.streets)
            commune, f_commune = self.commune_folds[ward_code]
            number = rng.randint(1, 400)
            address = f"Số {number} {street}, {commune}"
            folded_address = f"so {number} {f_street}, {f_commune}"
        else:
            folded_address = ""
        search_text = f"{folded} {folded_address}".strip()

        reporter_kind = rng.choices(("resident", "business", "organisation"), (85, 10, 5))[0]
        name = rng.choice(NAMES) if rng.random() < 0.55 else None
        email = f"nguoidan{case_id}@example.com" if rng.random() < 0.4 else None
        phone = f"09{case_id % 100000000:08d}" if rng.random() < 0.3 else None
        business = tax = None
        if reporter_kind != "resident":
            business = f"Công ty TNHH Minh Phát {case_id % 997}"
            tax = f"{100000000 + case_id % 899999999:010d}"
        confidential = bool((name or email or phone) and rng.random() < 0.12)
        consent = rng.random() < 0.5
        occurred = hanoi_day(created) - timedelta(days=rng.randint(1, 90)) \
            if rng.random() < 0.6 else None

        moderators = world.moderators[committee]
        moderator = rng.choice(moderators)
        officers = world.officers[agency_id]
        quality = world.quality[agency_id]
        with suppress(Stop):
            self.lifecycle(created, agency_id, committee, moderator, officers, quality,
                           description, folded, consent, confidential)
        self.rows.cases.append((
            case_id, hashlib.sha256(common.raw_tracking_code(case_id).encode()).hexdigest(), None,
            self.status,
            agency_id, self.assigned_agency, self.officer, committee, self.claimed,
            self.merged_into, conduct, sector, description, self.redacted, occurred, ward_code,
            address, reporter_kind, name, email, phone, business, tax, confidential, consent,
            "vi", self.due_stage, self.due_on, self.paused_on, self.reject_reason,
            self.reject_note, self.ping_pong, self.level, search_text, self.public_search,
            self.published_at, created, self.updated, self.closed_at, self.seq, self.head,
            self.seq or 1))

    def lifecycle(self, created: datetime, agency_id: int, committee: int, moderator: int,
                  officers: list[int], quality: float, description: str, folded: str,
                  consent: bool, confidential: bool) -> None:
        rng, world = self.rng, self.world
        deadline = self.set_deadline("triage", created)
        self.event(created, "reporter", None, "submit",
                   data={"agency_id": agency_id, "front_committee_id": committee, **deadline})

        # A Front member takes a share of the new cases.
        if rng.random() < 0.25:
            moment = self.at(self.later(created, 0))
            self.claimed = moderator
            self.event(moment, "staff", moderator, "claim", data={"previous_id": None})

        t = self.at(self.later(created, _triage_days(rng)))
        if rng.random() < 0.06:  # a question to the reporter; the clock stops
            self.paused_on = hanoi_day(t)
            self.event(t, "staff", moderator, "ask_info", to_status="needs_info",
                       reason=rng.choice(QUESTIONS))
            if rng.random() < 0.75:
                t = self.at(t + timedelta(days=rng.uniform(0.5, 12)))
                paused = self.cal.between(self.paused_on, hanoi_day(t))
                data = self.set_deadline(self.due_stage, due_on=self.cal.add(self.due_on, paused))
                data["paused_working_days"] = paused
                self.paused_on = None
                self.event(t, "reporter", None, "provide_info", to_status="submitted",
                           reason=rng.choice(REPLIES), data=data)
                t = self.at(self.later(t, _triage_days(rng)))
            else:  # no answer: after a month the Front closes it as insufficient
                t = self.at(t + timedelta(days=30 + rng.uniform(0, 10)))
                self.reject(t, moderator, "insufficient")
                raise Stop
        roll = rng.random()
        if roll < 0.08:
            self.reject(t, moderator, rng.choice(("not_about_an_agency", "outside_hanoi",
                                                  "already_in_court", "abusive", "other")))
            raise Stop
        if roll < 0.10 and self.case_id > 1000:
            self.merged_into = self.case_id - rng.randint(1, 1000)
            self.close(t)
            self.event(t, "staff", moderator, "merge", to_status="merged",
                       data={"into_case_id": self.merged_into})
            raise Stop

        # The Front reviews the text before the agency (and perhaps the public) reads it.
        if confidential or (consent and rng.random() < 0.6):
            self.redacted = description
            self.event(t, "staff", moderator, "redact")
        recommendation = rng.choice(RECOMMENDATIONS)
        target = agency_id if rng.random() < 0.93 or committee != world.city_committee \
            else rng.choice(world.departments)
        data = self.assign(t, target, moderator, recommendation)
        data |= self.set_deadline("acknowledge", t)
        self.event(t, "staff", moderator, "forward", to_status="forwarded", reason=recommendation,
                   data=data)
        self.agency_work(t, moderator, quality, consent, folded)

    def reject(self, moment: datetime, moderator: int, reason: str) -> None:
        self.reject_reason = reason
        self.close(moment)
        self.event(moment, "staff", moderator, "reject", to_status="rejected", reason="",
                   data={"reject_reason": reason})

    def agency_work(self, t: datetime, moderator: int, quality: float, consent: bool,
                    folded: str) -> None:
        """From the forward to the end: acknowledgement, transfers, answers, review, verdict."""
        rng, world = self.rng, self.world
        returns = transfers = 0
        while True:
            agency = self.assigned_agency
            officers, head = world.officers[agency], world.heads[agency]
            officer = rng.choice(officers)
            # Acknowledgement: mostly within the 3 working days.
            ack_days = min(int(rng.expovariate(1 / (1.6 * quality))), 12)
            t = self.at(self.later(t, ack_days))
            self.assignment[6] = t
            data = self.set_deadline("answer", t)
            self.assignment[7] = self.due_on
            self.event(t, "staff", officer, "acknowledge", to_status="in_progress", data=data)
            if rng.random() < 0.5:
                t = self.at(self.later(t, 0))
                self.officer = officer
                self.event(t, "staff", head, "assign_officer", data={"officer_id": officer})

            if transfers < 2 and rng.random() < (0.07 if transfers == 0 else 0.2):
                transfers += 1
                t = self.at(self.later(t, rng.randint(0, 4)))
                t = self.transfer(t, officer, moderator)
                if self.status == "forwarded":
                    continue  # approved: the new agency starts again

            if rng.random() < 0.01:  # never answered: stays with the agency, climbing the ladder
                self.at(self.now)
            if rng.random() < 0.04 and self.due_on >= hanoi_day(t):
                t = self.at(self.later(t, rng.randint(1, 8)))
                if self.due_on >= hanoi_day(t):
                    days = rng.randint(2, 7)
                    data = self.set_deadline("answer", due_on=self.cal.add(self.due_on, days))
                    self.assignment[7] = self.due_on
                    self.event(t, "staff", officer, "request_extension",
                               reason="Cần thêm thời gian xác minh thực tế.",
                               data={"working_days": days, "agency_id": agency, **data})

            # The answer: most on time, slow agencies often late.
            answer_days = max(1, int(rng.lognormvariate(math.log(9 * quality), 0.5)))
            t = self.at(self.later(t, answer_days))
            finding, f_finding = rng.choice(self.findings)
            action, f_action = rng.choice(self.actions)
            outcome = rng.choice(("substantiated", "partly", "not_substantiated"))
            answer = [self.next_answer, self.case_id, self.assignment[0], officer, self.due_on,
                      finding, action, outcome, "Đã tiếp thu kiến nghị của Mặt trận.", t,
                      "pending", None, None, None]
            self.next_answer += 1
            self.rows.answers.append(answer)
            self.assignment[8] = t
            data = self.set_deadline("triage", t)
            self.event(t, "staff", officer, "answer", to_status="answered",
                       data={"answer_id": answer[0], "outcome": outcome, **data})

            # The Front's review.
            t = self.at(self.later(t, _triage_days(rng)))
            if returns < 2 and rng.random() < 0.13:
                returns += 1
                t, answer = self.return_answer(t, moderator, officer, answer,
                                               "Câu trả lời chưa làm rõ trách nhiệm của cán bộ.")
            self.publishable = (f"{folded} {f_finding} {f_action}".strip()
                                if consent and self.redacted is not None else None)
            self.accept(t, moderator, answer)

            # The reporter's verdict, within the window, or none (the sweep closes it).
            roll = rng.random()
            if roll < 0.42:
                t = self.at(self.later(t, rng.randint(0, DAYS["rating"])))
                good = answer[4] is None or hanoi_day(answer[9]) <= answer[4]
                scores = {f: _score(rng, good) for f in SCORES}
                self.rows.ratings.append((self.next_rating, self.case_id, *scores.values(), "",
                                          t))
                self.next_rating += 1
                self.close(t)
                self.event(t, "reporter", None, "rate", to_status="closed", data=scores)
                raise Stop
            if roll < 0.49 and returns < 2:
                t = self.at(self.later(t, rng.randint(0, DAYS["rating"])))
                data = self.set_deadline("triage", t)
                self.event(t, "reporter", None, "dispute", to_status="disputed",
                           reason="Vấn đề của tôi vẫn chưa được giải quyết.", data=data)
                t = self.at(self.later(t, _triage_days(rng)))
                if rng.random() < 0.5:
                    self.close(t)
                    self.event(t, "staff", moderator, "uphold_answer", to_status="closed",
                               reason="Câu trả lời của cơ quan là phù hợp.")
                    raise Stop
                returns += 1
                t, answer = self.return_answer(
                    t, moderator, officer, answer,
                    "Đề nghị cơ quan giải quyết lại theo ý kiến người phản ánh.")
                # A second answer after a dispute is accepted and the case ends there.
                self.accept(t, moderator, answer)
            # No verdict: the rating window ends and the sweep closes the case.
            self.at(self.now)

    def return_answer(self, t, moderator, officer, answer, reason):
        """The Front returns the answer with a reason; the officer answers again."""
        answer[10:14] = ["returned", reason, moderator, t]
        self.unpublish()
        data = self.set_deadline("answer", t)
        self.assignment[7] = self.due_on
        self.event(t, "staff", moderator, "return_answer", to_status="in_progress",
                   reason=reason, data={"answer_id": answer[0], **data})
        return self.answer_again(t, officer, answer)

    def answer_again(self, t: datetime, officer: int, previous: list) -> tuple[datetime, list]:
        """A returned answer: the agency answers again; the Front's review moment, the answer."""
        rng = self.rng
        t = self.at(self.later(t, max(1, int(rng.lognormvariate(math.log(6), 0.5)))))
        answer = [self.next_answer, self.case_id, self.assignment[0], officer, self.due_on,
                  previous[5], previous[6], previous[7], previous[8], t, "pending", None, None,
                  None]
        self.next_answer += 1
        self.rows.answers.append(answer)
        self.assignment[8] = t
        data = self.set_deadline("triage", t)
        self.event(t, "staff", officer, "answer", to_status="answered",
                   data={"answer_id": answer[0], "outcome": answer[7], **data})
        return self.at(self.later(t, _triage_days(rng))), answer

    def accept(self, t: datetime, moderator: int, answer: list) -> None:
        assessment = "Mặt trận đánh giá câu trả lời đã làm rõ nội dung phản ánh."
        answer[10:14] = ["accepted", assessment, moderator, t]
        if self.publishable is not None:  # consent, and the text reviewed by the Front
            self.published_at = self.published_at or t
            self.public_search = self.publishable
        data = self.set_deadline("rating", t)
        self.event(t, "staff", moderator, "accept_answer", to_status="resolved",
                   reason=assessment, data={"answer_id": answer[0], **data})

    def unpublish(self) -> None:
        self.published_at = None
        self.public_search = ""

    def transfer(self, t: datetime, officer: int, moderator: int) -> datetime:
        """The agency asks to pass the case on; the Front approves or refuses."""
        rng, world = self.rng, self.world
        here = self.assigned_agency
        back = [a for a in self.held if a != here]
        target = back[0] if back and rng.random() < 0.6 else (
            rng.choice(world.departments) if rng.random() < 0.5
            else world.commune_agency[rng.choice(world.communes)])
        if target == here:
            target = world.departments[0] if here != world.departments[0] else world.departments[1]
        reason = "Nội dung phản ánh thuộc thẩm quyền của cơ quan khác."
        transfer = [self.next_transfer, self.case_id, here, target, reason, officer, t,
                    "pending", None, None, None]
        self.next_transfer += 1
        self.rows.transfers.append(transfer)
        data = self.set_deadline("triage", t)
        self.event(t, "staff", officer, "request_transfer", to_status="transfer_requested",
                   reason=reason, data={"to_agency_id": target, **data})
        t = self.at(self.later(t, _triage_days(rng)))
        if rng.random() < 0.45:
            transfer[7:11] = ["approved", None, moderator, t]
            recommendation = self.assignment[4]
            self.end_assignment(t, "transferred")
            data = self.assign(t, target, moderator, recommendation)
            data |= self.set_deadline("acknowledge", t)
            self.event(t, "staff", moderator, "approve_transfer", to_status="forwarded",
                       data={"from_agency_id": here, **data})
            return t
        note = "Đề nghị cơ quan trực tiếp giải quyết theo thẩm quyền."
        transfer[7:11] = ["refused", note, moderator, t]
        self.assignment[6] = self.assignment[6] or t
        data = self.set_deadline("answer", due_on=self.assignment[7])
        self.event(t, "staff", moderator, "refuse_transfer", to_status="in_progress",
                   reason=note, data=data)
        return t


@functools.cache
def _quoted(value: str | None) -> str:
    """A JSON string as `json.dumps(ensure_ascii=False)` writes it (the texts are few: cached)."""
    return json.dumps(value, ensure_ascii=False)


def _triage_days(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.35 else 1 if roll < 0.65 else 2 if roll < 0.85 else rng.randint(3, 6)


def _score(rng: random.Random, good: bool) -> int:
    return min(5, max(1, round(rng.gauss(4.0 if good else 2.6, 1.0))))


def _cumulative(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total


# -- the database --------------------------------------------------------------------------------

COLUMNS = {
    "cases": ("id", "tracking_code_hash", "submission_token", "status", "agency_id",
              "assigned_agency_id", "assigned_officer_id", "front_committee_id", "claimed_by_id",
              "merged_into_id", "conduct", "sector", "description", "description_redacted",
              "occurred_on", "ward_code", "address", "reporter_kind", "reporter_name",
              "reporter_email", "reporter_phone", "business_name", "tax_code", "confidential",
              "publish_consent", "locale", "due_stage", "due_on", "paused_on", "reject_reason",
              "reject_note", "ping_pong", "escalation_level", "search_text",
              "public_search_text", "published_at", "created_at", "updated_at", "closed_at",
              "event_count", "event_head_hash", "version"),
    "case_events": ("id", "case_id", "seq", "created_at", "actor_kind", "actor_id", "action",
                    "from_status", "to_status", "reason", "data", "prev_hash", "hash"),
    "assignments": ("id", "case_id", "agency_id", "assigned_by_id", "recommendation",
                    "assigned_at", "acknowledged_at", "answer_due_on", "answered_at", "ended_at",
                    "end_reason"),
    "answers": ("id", "case_id", "assignment_id", "author_id", "due_on", "findings",
                "actions_taken", "outcome", "reply_to_recommendation", "created_at", "review",
                "review_note", "reviewed_by_id", "reviewed_at"),
    "transfer_requests": ("id", "case_id", "from_agency_id", "to_agency_id", "reason",
                          "requested_by_id", "created_at", "decision", "decision_note",
                          "decided_by_id", "decided_at"),
    "ratings": ("id", "case_id", *SCORES, "comment", "created_at"),
}
ROW_LISTS = {"cases": "cases", "case_events": "events", "assignments": "assignments",
             "answers": "answers", "transfer_requests": "transfers", "ratings": "ratings"}


TEMPLATE = f"{common.DATABASE}_seeded"  # a pristine copy of the last seeding, for --reuse


def _admin(*statements: str) -> list[Any]:
    server = make_url(common.SERVER_URL + "/postgres")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            results = []
            for statement in statements:
                result = conn.execute(text(statement))
                results.append(result.all() if result.returns_rows else None)
            return results
    finally:
        admin.dispose()


def recreate_database(template: str | None = None) -> None:
    """Drop and create the bench database (as a copy of `template` when given)."""
    _admin(f'DROP DATABASE IF EXISTS "{common.DATABASE}" WITH (FORCE)',
           f'CREATE DATABASE "{common.DATABASE}"' + (f' TEMPLATE "{template}"' if template else ""))


def keep_copy() -> None:
    """Keep the freshly seeded database as the template `--reuse` starts again from."""
    _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)',
           f'CREATE DATABASE "{TEMPLATE}" TEMPLATE "{common.DATABASE}"')


def restore_copy(cases: int) -> bool:
    """Start again from the kept copy, if it holds `cases` cases; whether it did."""
    if not _admin(f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'")[0]:
        return False
    url = common.LIBPQ_URL.rsplit("/", 1)[0] + f"/{TEMPLATE}"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT cases FROM bench_seeding").fetchone()
    if row is None or row[0] != cases:
        return False
    recreate_database(TEMPLATE)
    return True


def _saved_schema(conn: psycopg.Connection) -> tuple[list[str], list[str], list[str]]:
    """The constraints and indexes of the bulk tables (and foreign keys into them), as DDL."""
    tables = list(BULK_TABLES)
    keys, others, foreign = [], [], []
    for table, name, kind, definition in conn.execute(
            """SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
               FROM pg_constraint c
               WHERE (c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s))
                 AND c.contype IN ('p', 'u', 'f')""", (tables, tables)):
        ddl = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        (foreign if kind == "f" else keys).append((table, name, ddl))
    constraint_indexes = {name for _t, name, _d in keys}
    for name, definition in conn.execute(
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE schemaname = 'public' AND tablename = ANY(%s)""", (tables,)):
        if name not in constraint_indexes:
            others.append((None, name, definition))
    for table, name, _ddl in foreign:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, name, _ddl in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _table, name, _ddl in others:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    return [d for *_x, d in keys], [d for *_x, d in others], [d for *_x, d in foreign]


# How many rows of each kind a chunk of cases may hold, per case: each chunk numbers its rows
# from its own block of ids (the simulation averages about 8 events, 1 assignment, 1 answer,
# 0.1 transfer request and 0.4 rating per case), so chunks run in parallel processes.
ID_BLOCKS = {"events": 16, "assignments": 3, "answers": 4, "transfers": 2, "ratings": 1}
CHUNK = 25_000


def _load_chunk(job: tuple[World, int, int, int, datetime]) -> dict[str, int]:
    """Simulate cases `first`..`last` and COPY them in on connections of this process."""
    world, first, last, seed, now = job
    today = hanoi_day(now)
    calendar = Calendar(today - timedelta(days=SPAN_DAYS + 30), today + timedelta(days=400),
                        WorkingCalendar())
    sim = Simulator(world, calendar, now, seed * 1_000_003 + first)
    base = first - 1
    sim.next_event = base * ID_BLOCKS["events"] + 1
    sim.next_assignment = base * ID_BLOCKS["assignments"] + 1
    sim.next_answer = base * ID_BLOCKS["answers"] + 1
    sim.next_transfer = base * ID_BLOCKS["transfers"] + 1
    sim.next_rating = base * ID_BLOCKS["ratings"] + 1
    written = dict.fromkeys(BULK_TABLES, 0)
    with ExitStack() as stack:
        copies = {}
        for table in BULK_TABLES:
            conn = stack.enter_context(psycopg.connect(common.LIBPQ_URL))
            conn.execute("SET synchronous_commit = off")
            columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
            copies[table] = stack.enter_context(
                conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN"))
        for start in range(first, last + 1, 1000):
            for case_id in range(start, min(start + 1000, last + 1)):
                sim.case(case_id)
            for table in BULK_TABLES:
                rows = getattr(sim.rows, ROW_LISTS[table])
                write = copies[table].write_row
                for row in rows:
                    write(row)
                written[table] += len(rows)
            sim.rows.clear()
        limits = {"events": sim.next_event, "assignments": sim.next_assignment,
                  "answers": sim.next_answer, "transfers": sim.next_transfer,
                  "ratings": sim.next_rating}
        for name, next_id in limits.items():
            if next_id > last * ID_BLOCKS[name] + 1:
                raise RuntimeError(f"cases {first}-{last} overflowed their block of {name} ids")
    # Leaving the ExitStack ends each COPY and commits its connection.
    return written


def load_cases(world: World, count: int, seed: int, processes: int = 2,
               report=print) -> dict[str, int]:
    """Simulate `count` cases and COPY them in, in parallel chunks; the rows per table."""
    import multiprocessing

    now = utcnow()
    jobs = [(world, first, min(first + CHUNK - 1, count), seed, now)
            for first in range(1, count + 1, CHUNK)]
    written = dict.fromkeys(BULK_TABLES, 0)
    started = time.perf_counter()
    done = 0
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for counts in pool.imap_unordered(_load_chunk, jobs):
            for table, rows in counts.items():
                written[table] += rows
            done += counts["cases"]
            report(f"  {done} cases simulated and copied ({time.perf_counter() - started:.0f} s)")
    return written


def restore_schema(keys: list[str], indexes: list[str], foreign: list[str], report=print,
                   connections: int = 2) -> None:
    """Keys first (the foreign keys need them), then the indexes, then the foreign keys.

    Each group on `connections` connections at once, the trigram (GIN) indexes first: they
    take longest and PostgreSQL builds each on one core.
    """
    from concurrent.futures import ThreadPoolExecutor

    def run(ddl: str) -> None:
        with psycopg.connect(common.LIBPQ_URL, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            started = time.perf_counter()
            conn.execute(ddl)
        report(f"  {time.perf_counter() - started:5.1f} s  {ddl[:100]}")

    for group in (keys, sorted(indexes, key=lambda ddl: "USING gin" not in ddl), foreign):
        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(run, group))


def finish(report=print) -> None:
    with psycopg.connect(common.LIBPQ_URL, autocommit=True) as conn:
        for table in BULK_TABLES + ("users",):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)")
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        report(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")


def build(count: int, seed: int = 2026, report=print) -> dict[str, Any]:
    """The whole seeding; returns what was written and how long each part took."""
    from portal import create_app, migrate, stats
    from portal.db import new_session, session_scope
    from portal.seed import seed_agencies

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        report(f"{name}: {timings[name]} s")

    recreate_database()
    migrate.upgrade(common.DATABASE_URL)
    lap("schema")
    app = create_app(common.environment())
    with app.app_context():
        with session_scope() as session:
            seed_agencies(session)
        session = new_session()
        try:
            world = seed_staff(session, random.Random(seed))
        finally:
            session.close()
        lap("reference data and staff")
        with psycopg.connect(common.LIBPQ_URL) as conn:
            keys, indexes, foreign = _saved_schema(conn)
        written = load_cases(world, count, seed, report=report)
        lap("cases (simulate and COPY)")
        restore_schema(keys, indexes, foreign, report)
        lap("indexes and constraints")
        finish(report)
        lap("vacuum and analyze")
        session = new_session()
        try:
            refreshed = stats.refresh(session, all=True)
        finally:
            session.close()
        report(refreshed.summary())
        lap("stats refresh --all")
    app.extensions["db_engine"].dispose()
    with psycopg.connect(common.LIBPQ_URL, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_seeding (cases integer NOT NULL, seeded_at timestamp "
                     "NOT NULL DEFAULT now(), timings text NOT NULL)")
        conn.execute("INSERT INTO bench_seeding (cases, timings) VALUES (%s, %s)",
                     (count, json.dumps(timings)))
    keep_copy()
    lap("a copy kept for --reuse")
    return {"cases": count, "rows": written, "timings": timings,
            "total_seconds": round(sum(timings.values()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    result = build(args.cases, args.seed)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
