"""Which Front committee supervises which agency.

A commune's committee supervises that commune's people's committee and its bodies;
the city's committee supervises the city's departments and bodies.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Agency, FrontCommittee

CITY_COMMITTEE_CODE = "MTTQ-HN"


def city_committee(session: Session) -> FrontCommittee:
    committee = session.scalar(select(FrontCommittee).where(FrontCommittee.code == CITY_COMMITTEE_CODE))
    if committee is None:
        raise LookupError("the city Front committee is missing: run `flask --app app seed agencies`")
    return committee


def committee_for_agency(session: Session, agency: Agency) -> FrontCommittee:
    if agency.ward_code is not None:
        committee = session.scalar(
            select(FrontCommittee).where(FrontCommittee.ward_code == agency.ward_code)
        )
        if committee is not None:
            return committee
    return city_committee(session)
