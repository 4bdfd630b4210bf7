"""Finding reports of the same problem: same agency, similar words, recent.

Candidates come from an indexed query (the agency's open cases of the last weeks,
newest first, at most a few hundred); similarity is the overlap of their folded
words, so no full-text engine is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from moderation.queue import committee_scope
from portal.db import utcnow
from portal.models import Case, User
from portal.vocab import OPEN_STATUSES, CaseStatus

WINDOW = timedelta(days=90)
CANDIDATES = 300
THRESHOLD = 0.25
# Words too common in reports to say two of them are about the same thing.
COMMON = frozenset({
    "va", "cua", "la", "co", "khong", "da", "duoc", "cho", "toi", "chung", "nay", "nhung", "mot",
    "cac", "voi", "trong", "den", "tu", "ve", "de", "thi", "ma", "o", "tai", "nguoi", "dan", "can",
    "bo", "ho", "so", "phuong", "xa", "ngay", "thang", "nam",
})


@dataclass(frozen=True)
class Suggestion:
    case: Case
    score: float


def _words(search_text: str) -> frozenset[str]:
    return frozenset(w for w in search_text.split() if len(w) > 1 and w not in COMMON)


def similar_cases(session: Session, case: Case, user: User, limit: int = 5) -> list[Suggestion]:
    words = _words(case.search_text)
    if not words:
        return []
    # Only ids and folded text: a few hundred full rows with their long descriptions would weigh
    # on every case page.
    candidates = session.execute(
        select(Case.id, Case.search_text).where(
            committee_scope(user),
            Case.id != case.id,
            or_(Case.agency_id == case.agency_id, Case.assigned_agency_id == case.agency_id),
            Case.status.in_(sorted(OPEN_STATUSES - {CaseStatus.MERGED})),
            Case.created_at >= utcnow() - WINDOW,
        ).order_by(Case.id.desc()).limit(CANDIDATES)
    ).all()
    scores = {}
    for case_id, text in candidates:
        theirs = _words(text)
        if theirs:
            score = len(words & theirs) / len(words | theirs)
            if score >= THRESHOLD:
                scores[case_id] = round(score, 2)
    best = sorted(scores, key=lambda i: (-scores[i], -i))[:limit]
    found = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(best)))}
    return [Suggestion(found[i], scores[i]) for i in best]
