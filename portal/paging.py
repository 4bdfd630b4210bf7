"""Lists of cases, a page at a time, continued from the last row seen (never OFFSET).

Sorted by deadline (cases without one last) or by age, with the id breaking ties, so
the thousandth page costs what the first does and no case is shown twice or skipped.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_

from portal.citizen.forms import to_int_or_none
from portal.models import Case

SORTS = ("deadline", "newest", "oldest")


def cursor_of(case: Case, sort: str) -> str:
    if sort == "deadline":
        return f"{case.due_on.isoformat() if case.due_on else '-'}~{case.id}"
    return str(case.id)


def after(cursor: str | None, sort: str) -> list:
    """The keyset condition that continues after `cursor`; a malformed cursor starts over."""
    if not cursor:
        return []
    due, _, case_id = cursor.rpartition("~") if sort == "deadline" else ("", "", cursor)
    last_id = to_int_or_none(case_id)
    if last_id is None:
        return []
    if sort == "deadline":
        if due == "-":
            return [Case.due_on.is_(None), Case.id > last_id]
        try:
            last_due = date.fromisoformat(due)
        except ValueError:
            return []
        return [or_(Case.due_on > last_due, and_(Case.due_on == last_due, Case.id > last_id),
                    Case.due_on.is_(None))]
    return [Case.id < last_id] if sort == "newest" else [Case.id > last_id]


def order(sort: str) -> list:
    if sort == "deadline":
        return [Case.due_on.asc().nulls_last(), Case.id.asc()]
    return [Case.id.desc()] if sort == "newest" else [Case.id.asc()]
