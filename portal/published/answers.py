"""Published answers: what the public may read of a case, and how it is found.

A case is published (`Case.published_at` set, see `portal.lifecycle._publish`) only when the
reporter agreed, the Front reviewed the text for personal data and accepted the agency's
answer; a returned answer unpublishes it. What is shown of it is the reviewed text
(`description_redacted`, never `description`), the accepted answer and the Front's
assessment: never the reporter's identity, the address or the original text. Search reads
`public_search_text` only, which holds exactly that reviewed text and answer, folded.

Lists are newest first by publication, a page at a time, continued from the last row seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.citizen.forms import to_int_or_none
from portal.deadlines import hanoi_date
from portal.models import Agency, Answer, Case
from portal.search import escape_like, fold

PAGE_SIZE = 20
MAX_SEARCH_WORDS = 8


@dataclass
class AnswerFilters:
    search: str = ""
    agency: Agency | None = None
    sector: str | None = None


@dataclass
class PublishedAnswer:
    """One published case as the public reads it: nothing else of the case is handed on."""

    reference: str
    agency: Agency  # the agency that answered
    reported_agency: Agency  # the agency named in the report (differs after a transfer)
    conduct: str
    sector: str
    received: date  # the Hanoi day the report came in; shown as its month only
    text: str  # the Front-reviewed text
    outcome: str
    findings: str
    actions_taken: str
    assessment: str  # the Front's assessment of the answer
    published_at: datetime


@dataclass
class Page:
    answers: list[PublishedAnswer]
    next_cursor: str | None


def _cursor(case: Case) -> str:
    return f"{case.published_at.isoformat()}~{case.id}"


def _after(cursor: str | None) -> list:
    """The keyset condition that continues after `cursor`; a malformed one starts over."""
    if not cursor:
        return []
    moment, _, case_id = cursor.rpartition("~")
    last_id = to_int_or_none(case_id)
    try:
        last_moment = datetime.fromisoformat(moment)
    except ValueError:
        return []
    if last_id is None:
        return []
    return [or_(Case.published_at < last_moment,
                and_(Case.published_at == last_moment, Case.id < last_id))]


def case_id_of(reference: str) -> int | None:
    """The case id in a reference such as PA26-0000123 (the caller checks the whole reference)."""
    text = reference.strip().upper().replace(" ", "")
    if not text.startswith("PA") or "-" not in text:
        return None
    return to_int_or_none(text.rsplit("-", 1)[1])


def _search_conditions(text: str) -> list:
    """Every word must appear in the public text, accents ignored; a reference finds its case."""
    text = text.strip()
    if not text:
        return []
    case_id = case_id_of(text)
    if case_id is not None:
        return [Case.id == case_id]
    return [Case.public_search_text.like(f"%{escape_like(word)}%", escape="\\")
            for word in fold(text).split()[:MAX_SEARCH_WORDS]]


def _conditions(filters: AnswerFilters) -> list:
    conditions: list = [Case.published_at.is_not(None)]
    if filters.agency is not None:
        # The agency's record: the cases it answered, and those reported about it.
        conditions.append(or_(Case.assigned_agency_id == filters.agency.id,
                              Case.agency_id == filters.agency.id))
    if filters.sector:
        conditions.append(Case.sector == filters.sector)
    return conditions + _search_conditions(filters.search)


def _accepted_answers(session: Session, case_ids: list[int]) -> dict[int, Answer]:
    """The answer the Front accepted, for each case (the latest, should there be more)."""
    answers: dict[int, Answer] = {}
    if not case_ids:
        return answers
    for item in session.scalars(select(Answer).where(Answer.case_id.in_(case_ids),
                                                     Answer.review == "accepted")
                                .order_by(Answer.id)):
        answers[item.case_id] = item
    return answers


def _public(case: Case, accepted: Answer | None) -> PublishedAnswer | None:
    # Belt and braces: whatever set `published_at`, no case without a reviewed text or an
    # accepted answer reaches the public.
    if accepted is None or case.description_redacted is None:
        return None
    return PublishedAnswer(
        reference=case.reference, agency=case.assigned_agency or case.agency,
        reported_agency=case.agency, conduct=case.conduct, sector=case.sector,
        received=hanoi_date(case.created_at), text=case.description_redacted,
        outcome=accepted.outcome, findings=accepted.findings,
        actions_taken=accepted.actions_taken, assessment=accepted.review_note or "",
        published_at=case.published_at)


def answers_page(session: Session, filters: AnswerFilters, cursor: str | None = None,
                 size: int | None = None) -> Page:
    size = size or PAGE_SIZE
    cases = session.scalars(
        select(Case)
        .options(joinedload(Case.agency), joinedload(Case.assigned_agency))
        .where(*_conditions(filters), *_after(cursor))
        .order_by(Case.published_at.desc(), Case.id.desc())
        .limit(size + 1)
    ).all()
    more = len(cases) > size
    cases = cases[:size]
    accepted = _accepted_answers(session, [c.id for c in cases])
    shown = [item for c in cases if (item := _public(c, accepted.get(c.id))) is not None]
    return Page(answers=shown, next_cursor=_cursor(cases[-1]) if more and cases else None)


def published_answer(session: Session, reference: str) -> PublishedAnswer | None:
    """The published case with exactly this reference; None if there is none or it is not public."""
    case_id = case_id_of(reference)
    if case_id is None:
        return None
    case = session.get(Case, case_id)
    if case is None or case.published_at is None or case.reference != reference.strip().upper():
        return None
    return _public(case, _accepted_answers(session, [case.id]).get(case.id))
