"""Which cases an agency's staff may see: those their agency holds now. Anything else is a 404.

A case transferred away, or one that never reached the agency, looks exactly like a case that
does not exist: an agency learns nothing of other agencies' work.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import ColumnElement, select

from portal.auth.permissions import staff
from portal.db import get_session
from portal.models import Case, User


def agency_scope(user: User) -> ColumnElement[bool]:
    return Case.assigned_agency_id == user.agency_id


def get_agency_case(case_id: int) -> Case:
    case = get_session().scalar(select(Case).where(Case.id == case_id, agency_scope(staff())))
    if case is None:
        abort(404)
    return case
