"""The moderation queue: which cases a Front member sees, filtered, sorted and paginated by key.

Every filter maps to an indexed column, and pages continue from the last row seen
(never OFFSET), so the first page and the thousandth cost the same on a million cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session, joinedload

from portal import paging
from portal.citizen.forms import to_int_or_none
from portal.deadlines import WorkingCalendar, today
from portal.models import Case, User
from portal.search import escape_like, fold
from portal.vocab import OPEN_STATUSES, CaseStatus

PAGE_SIZE = 50
# The states in which somebody owes the next step by a deadline: a case waiting for the
# reporter (clock stopped) or in the reporter's rating window is nobody's overdue duty.
DUTY_STATUSES = OPEN_STATUSES - {CaseStatus.NEEDS_INFO, CaseStatus.RESOLVED}
SORTS = paging.SORTS


def committee_scope(user: User) -> ColumnElement[bool]:
    """The city committee sees every queue; a commune committee sees its own."""
    committee = user.front_committee
    if committee is None:
        return Case.id.is_(None)  # nobody outside the Front sees the queue
    if committee.is_city:
        return true()
    return Case.front_committee_id == committee.id


@dataclass
class QueueFilters:
    status: str | None = "open"  # a status, "open", or None for every case
    agency_id: int | None = None
    conduct: str | None = None
    sector: str | None = None
    ward_code: int | None = None
    committee_id: int | None = None
    overdue: bool = False
    due_within: int | None = None  # working days
    claimed: str | None = None  # "me", "nobody", or a user id as text
    confidential: bool | None = None
    search: str = ""
    sort: str = "deadline"
    escalated: bool = False

    def effective_sort(self) -> str:
        """Cases without a running deadline have nothing to sort by but their age."""
        if self.sort == "deadline" and self.status in (CaseStatus.REJECTED, CaseStatus.MERGED,
                                                       CaseStatus.CLOSED):
            return "newest"
        return self.sort if self.sort in SORTS else "deadline"


@dataclass
class Page:
    cases: list[Case]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


def _conditions(user: User, filters: QueueFilters, *, with_status: bool = True) -> list:
    conditions: list = [committee_scope(user)]
    if with_status:
        if filters.status == "open":
            conditions.append(Case.status.in_(sorted(OPEN_STATUSES)))
        elif filters.status:
            conditions.append(Case.status == filters.status)
    if filters.agency_id:
        conditions.append(or_(Case.agency_id == filters.agency_id,
                              Case.assigned_agency_id == filters.agency_id))
    if filters.conduct:
        conditions.append(Case.conduct == filters.conduct)
    if filters.sector:
        conditions.append(Case.sector == filters.sector)
    if filters.ward_code:
        conditions.append(Case.ward_code == filters.ward_code)
    if filters.committee_id:
        conditions.append(Case.front_committee_id == filters.committee_id)
    now = today()
    if filters.overdue:
        conditions += [Case.due_on < now, Case.status.in_(sorted(DUTY_STATUSES))]
    if filters.due_within is not None:
        limit = WorkingCalendar().add_working_days(now, filters.due_within)
        conditions.append(Case.due_on <= limit)
    if filters.escalated:
        conditions.append(Case.escalation_level > 0)
    if filters.claimed == "me":
        conditions.append(Case.claimed_by_id == user.id)
    elif filters.claimed == "nobody":
        conditions.append(Case.claimed_by_id.is_(None))
    elif filters.claimed and to_int_or_none(filters.claimed):
        conditions.append(Case.claimed_by_id == to_int_or_none(filters.claimed))
    if filters.confidential is not None:
        conditions.append(Case.confidential.is_(filters.confidential))
    conditions += _search_conditions(filters.search)
    return conditions


def _search_conditions(text: str) -> list:
    """Every word must appear, accents ignored; a case number finds that case."""
    text = text.strip()
    if not text:
        return []
    reference = text.upper().replace(" ", "")
    if reference.startswith("PA") and "-" in reference:
        return [Case.id == to_int_or_none(reference.rsplit("-", 1)[1])]
    return [Case.search_text.like(f"%{escape_like(word)}%", escape="\\")
            for word in fold(text).split()[:8]]


def queue_page(session: Session, user: User, filters: QueueFilters, cursor: str | None = None,
               size: int = PAGE_SIZE) -> Page:
    sort = filters.effective_sort()
    rows = session.scalars(
        select(Case)
        .options(joinedload(Case.agency), joinedload(Case.assigned_agency),
                 joinedload(Case.claimed_by))
        .where(*_conditions(user, filters), *paging.after(cursor, sort))
        .order_by(*paging.order(sort))
        .limit(size + 1)
    ).all()
    more = len(rows) > size
    rows = rows[:size]
    return Page(cases=list(rows), next_cursor=paging.cursor_of(rows[-1], sort) if more and rows else None)


def status_counts(session: Session, user: User, filters: QueueFilters) -> dict[str, int]:
    """How many cases of each status match the other filters."""
    rows = session.execute(
        select(Case.status, func.count())
        .where(*_conditions(user, filters, with_status=False))
        .group_by(Case.status)
    ).all()
    return {status: count for status, count in rows}
