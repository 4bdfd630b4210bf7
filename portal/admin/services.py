"""The rules of administration, as plain functions the views call.

Each function changes the session and leaves the commit to its caller, so that a view stores
all of a change or none of it. A change the rules refuse raises `Refused`, naming the form
field the message belongs next to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

import holidays as holiday_calendars
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from portal import outbox
from portal.accounts import AccountError, create_user
from portal.auth.service import end_sessions
from portal.deadlines import today
from portal.models import Agency, CannedReply, DeadlineRule, FrontCommittee, Holiday, User
from portal.search import escape_like, fold
from portal.vocab import AGENCY_ROLES, FRONT_ROLES, AgencyKind, Role

log = logging.getLogger(__name__)

PAGE_SIZE = 50
COMMUNE_KINDS = frozenset({AgencyKind.COMMUNE_COMMITTEE, AgencyKind.COMMUNE_BODY})
# Only the top of the tree (the city's People's Committee) has no parent.
ROOT_KINDS = frozenset({AgencyKind.CITY_COMMITTEE})


class CannedPurpose(StrEnum):
    ASK_INFO = "ask_info"
    REJECT = "reject"
    FORWARD = "forward"
    REVIEW = "review"


CANNED_PURPOSE_LABELS = {
    CannedPurpose.ASK_INFO: _l("Question to the reporter"),
    CannedPurpose.REJECT: _l("Reason for not accepting a report"),
    CannedPurpose.FORWARD: _l("Recommendation to the agency"),
    CannedPurpose.REVIEW: _l("Assessment of an agency's answer"),
}


class Refused(ValueError):
    """A change the rules do not allow; `field` is the form field the message goes with."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Page:
    """One page of a list ordered by id: `next_after` is the key of the next page, if any."""

    items: list
    next_after: int | None


def _page(session: Session, query, model, after: int | None, size: int = PAGE_SIZE) -> Page:
    if after:
        query = query.where(model.id > after)
    rows = list(session.scalars(query.order_by(model.id).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].id if more else None)


def _contains(column, term: str):
    return func.lower(column).like(f"%{escape_like(term.lower())}%", escape="\\")


# -- agencies ---------------------------------------------------------------------------------


def list_agencies(session: Session, kind: str | None = None, search: str | None = None,
                  parent_id: int | None = None, after: int | None = None) -> Page:
    query = select(Agency)
    if parent_id:
        query = query.where(Agency.parent_id == parent_id)
    if kind:
        query = query.where(Agency.kind == kind)
    if search:
        query = query.where(Agency.id.in_(_agencies_matching(session, search)))
    return _page(session, query, Agency, after)


def _agencies_matching(session: Session, search: str) -> list[int]:
    """Ids of the agencies whose name or code contains `search`, accents ignored ("hoan kiem").

    Agencies are reference data (a few hundred rows, no folded column), so the names are
    folded here, the same way on SQLite and PostgreSQL.
    """
    term = fold(search)
    rows = session.execute(select(Agency.id, Agency.name, Agency.name_en, Agency.code))
    return [row.id for row in rows if term in fold(f"{row.name} {row.name_en or ''} {row.code}")]


def agency_by_code(session: Session, code: str) -> Agency | None:
    return session.scalar(select(Agency).where(func.upper(Agency.code) == code.strip().upper()))


def _check_place(session: Session, kind: str, ward_code: int | None, parent_id: int | None,
                 agency: Agency | None = None) -> Agency | None:
    """The parent, if the agency may sit under it with this kind and commune; else `Refused`."""
    if kind in COMMUNE_KINDS and ward_code is None:
        raise Refused(_l("A commune-level agency needs its commune or ward."), "ward_code")
    if kind not in COMMUNE_KINDS and ward_code is not None:
        raise Refused(_l("Only a commune-level agency has a commune or ward."), "ward_code")
    if parent_id is None:
        if kind not in ROOT_KINDS:
            raise Refused(_l("Choose the agency it belongs to."), "parent_id")
        return None
    parent = session.get(Agency, parent_id)
    if parent is None:
        raise Refused(_l("Choose an agency from the list."), "parent_id")
    if parent.ward_code is not None and parent.ward_code != ward_code:
        raise Refused(_l("This agency belongs to another commune or ward; choose a parent "
                         "of the same commune or a city-level agency."), "parent_id")
    if agency is not None and agency.id is not None and agency.id in ancestors_and_self(session, parent):
        raise Refused(_l("An agency cannot sit under itself or under one of its own units."),
                      "parent_id")
    return parent


def ancestors_and_self(session: Session, agency: Agency) -> set[int]:
    """The ids of the agency and of every agency above it."""
    seen: set[int] = set()
    current: Agency | None = agency
    while current is not None and current.id not in seen:
        seen.add(current.id)
        current = session.get(Agency, current.parent_id) if current.parent_id else None
    return seen


def add_agency(session: Session, *, code: str, name: str, name_en: str | None, kind: str,
               parent_id: int | None, ward_code: int | None) -> Agency:
    code = code.strip().upper()
    if agency_by_code(session, code) is not None:
        raise Refused(_l("Another agency already has this code."), "code")
    if kind not in set(AgencyKind):
        raise Refused(_l("Choose a kind from the list."), "kind")
    if kind == AgencyKind.COMMUNE_COMMITTEE and ward_code is not None and session.scalar(
            select(Agency.id).where(Agency.kind == kind, Agency.ward_code == ward_code)):
        raise Refused(_l("This commune or ward already has its People's Committee."), "ward_code")
    parent = _check_place(session, kind, ward_code, parent_id)
    agency = Agency(code=code, name=name, name_en=name_en or None, kind=kind, parent=parent,
                    ward_code=ward_code, active=True)
    session.add(agency)
    session.flush()
    log.info("agency %s (%s) added", agency.id, code)
    return agency


def rename_agency(session: Session, agency: Agency, *, name: str, name_en: str | None) -> None:
    agency.name = name
    agency.name_en = name_en or None
    log.info("agency %s renamed", agency.id)


def move_agency(session: Session, agency: Agency, parent_id: int | None) -> None:
    """Put the agency under another parent; never under itself or one of its own units."""
    parent = _check_place(session, agency.kind, agency.ward_code, parent_id, agency=agency)
    agency.parent = parent
    log.info("agency %s moved under %s", agency.id, parent.id if parent else None)


def set_agency_active(session: Session, agency: Agency, active: bool) -> None:
    """A deactivated agency leaves the report form and can no longer receive a case."""
    agency.active = active
    log.info("agency %s %s", agency.id, "reactivated" if active else "deactivated")


def parent_choices(session: Session, exclude: Agency | None = None) -> list[Agency]:
    """Agencies that can hold units: every active one, except the agency itself."""
    query = select(Agency).where(Agency.active.is_(True), Agency.kind != AgencyKind.COMMUNE_BODY)
    if exclude is not None:
        query = query.where(Agency.id != exclude.id)
    return list(session.scalars(query.order_by(Agency.id)))


def units_of(session: Session, agency: Agency) -> Page:
    return list_agencies(session, parent_id=agency.id)


# -- users and roles --------------------------------------------------------------------------


def list_users(session: Session, role: str | None = None, search: str | None = None,
               after: int | None = None) -> Page:
    query = select(User).options(selectinload(User.agency), selectinload(User.front_committee))
    if role:
        query = query.where(User.role == role)
    if search:
        query = query.where(or_(_contains(User.email, search), _contains(User.name, search)))
    return _page(session, query, User, after)


def resolve_organisation(session: Session, role: str,
                         org_code: str | None) -> tuple[Agency | None, FrontCommittee | None]:
    """The agency or Front committee a user of `role` belongs to, from its code."""
    code = (org_code or "").strip().upper()
    if role in FRONT_ROLES:
        committee = session.scalar(select(FrontCommittee)
                                   .where(func.upper(FrontCommittee.code) == code)) if code else None
        if committee is None:
            raise Refused(_l("A Front role needs the code of a Front committee, e.g. MTTQ-HN."),
                          "org_code")
        return None, committee
    if role in AGENCY_ROLES:
        agency = agency_by_code(session, code) if code else None
        if agency is None:
            raise Refused(_l("An agency role needs the code of an agency, e.g. SO-XD."), "org_code")
        if not agency.active:
            raise Refused(_l("This agency is deactivated."), "org_code")
        return agency, None
    if role == Role.ADMIN:
        if code:
            raise Refused(_l("An administrator belongs to no agency or committee: leave the "
                             "code empty."), "org_code")
        return None, None
    raise Refused(_l("Choose a role from the list."), "role")


def email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(func.lower(User.email) == email.strip().lower())) \
        is not None


def add_user(session: Session, *, email: str, name: str, role: str, org_code: str | None,
             password: str) -> User:
    if email_taken(session, email):
        raise Refused(_l("A user with this email already exists."), "email")
    agency, committee = resolve_organisation(session, role, org_code)
    code = agency.code if agency else committee.code if committee else None
    try:
        user = create_user(session, email, role, password, code, name=name)
    except AccountError as error:  # the form checks the same things first, in the person's language
        raise Refused(_l("This account cannot be created: check every field."), "email") from error
    session.flush()
    log.info("user %s created with role %s", user.id, role)
    return user


def change_membership(session: Session, user: User, acting: User, *, role: str,
                      org_code: str | None) -> None:
    if user.id == acting.id and role != user.role:
        raise Refused(_l("You cannot change your own role; ask another administrator."))
    agency, committee = resolve_organisation(session, role, org_code)
    if (role, agency, committee) != (user.role, user.agency, user.front_committee):
        # A new role or organisation starts from a fresh sign-in, wherever the person is.
        end_sessions(user)
    user.role = role
    user.agency = agency
    user.front_committee = committee
    log.info("user %s now has role %s", user.id, role)


def deactivate_user(session: Session, user: User, acting: User) -> None:
    """The user can no longer sign in, and every session of theirs ends now."""
    if user.id == acting.id:
        raise Refused(_l("You cannot deactivate your own account."))
    user.active = False
    user.deactivated_by_id = acting.id
    end_sessions(user)
    log.info("user %s deactivated by %s", user.id, acting.id)


def reactivate_user(session: Session, user: User) -> None:
    user.active = True
    user.deactivated_by_id = None
    log.info("user %s reactivated", user.id)


def organisation_codes(session: Session) -> list[str]:
    """Every code a user may belong to, for the browser's suggestions."""
    committees = session.scalars(select(FrontCommittee.code).order_by(FrontCommittee.code))
    agencies = session.scalars(select(Agency.code).where(Agency.active.is_(True)).order_by(Agency.code))
    return [*committees, *agencies]


# -- deadline rules ---------------------------------------------------------------------------


def list_rules(session: Session) -> list[DeadlineRule]:
    """Every rule: at most one per stage, conduct and sector, so the list stays small."""
    return list(session.scalars(select(DeadlineRule).order_by(
        DeadlineRule.stage, DeadlineRule.conduct.is_not(None), DeadlineRule.conduct,
        DeadlineRule.sector.is_not(None), DeadlineRule.sector)))


def _same_rule(session: Session, stage: str, conduct: str | None, sector: str | None):
    # The unique constraint treats two empty (NULL) columns as different: compare here.
    query = select(DeadlineRule).where(
        DeadlineRule.stage == stage,
        DeadlineRule.conduct.is_(None) if conduct is None else DeadlineRule.conduct == conduct,
        DeadlineRule.sector.is_(None) if sector is None else DeadlineRule.sector == sector)
    return session.scalar(query)


def save_rule(session: Session, rule: DeadlineRule | None, *, stage: str, conduct: str | None,
              sector: str | None, working_days: int) -> DeadlineRule:
    """Add a rule (rule=None) or change one; one rule per stage, conduct and sector."""
    existing = _same_rule(session, stage, conduct or None, sector or None)
    if existing is not None and existing is not rule:
        raise Refused(_l("A rule for this stage, conduct and area of work already exists: "
                         "change that rule instead."), "stage")
    if not 1 <= working_days <= 90:
        raise Refused(_l("Between 1 and 90 working days."), "working_days")
    if rule is None:
        rule = DeadlineRule()
        session.add(rule)
    rule.stage, rule.conduct, rule.sector = stage, conduct or None, sector or None
    rule.working_days = working_days
    session.flush()
    log.info("deadline rule %s saved: %s/%s/%s = %s days", rule.id, stage, conduct, sector,
             working_days)
    return rule


def delete_rule(session: Session, rule: DeadlineRule) -> None:
    session.delete(rule)
    log.info("deadline rule %s deleted", rule.id)


# -- holidays ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _national(year: int, language: str):
    return holiday_calendars.country_holidays("VN", years=year,
                                              language="vi" if language == "vi" else "en_US")


def national_holiday(day: date, language: str = "vi") -> str | None:
    """The name of the national holiday on `day`, from the `holidays` library, if there is one."""
    return _national(day.year, language).get(day)


def list_holidays(session: Session) -> tuple[list[Holiday], list[Holiday]]:
    """The coming days off, soonest first, then the past ones, latest first."""
    now = today()
    coming = session.scalars(select(Holiday).where(Holiday.day >= now).order_by(Holiday.day))
    past = session.scalars(select(Holiday).where(Holiday.day < now).order_by(Holiday.day.desc())
                           .limit(PAGE_SIZE))
    return list(coming), list(past)


def add_holiday(session: Session, *, day: date, name: str) -> Holiday:
    if session.scalar(select(Holiday.id).where(Holiday.day == day)) is not None:
        raise Refused(_l("This date is already a holiday of the city."), "day")
    holiday = Holiday(day=day, name=name)
    session.add(holiday)
    session.flush()
    log.info("city holiday %s added on %s", holiday.id, day.isoformat())
    return holiday


def delete_holiday(session: Session, holiday: Holiday) -> None:
    session.delete(holiday)
    log.info("city holiday on %s deleted", holiday.day.isoformat())


# -- canned replies ---------------------------------------------------------------------------


def list_canned_replies(session: Session, purpose: str | None = None,
                        active_only: bool = False) -> list[CannedReply]:
    """The Front's reusable texts; the active ones first. `active_only` for the moderation forms."""
    query = select(CannedReply)
    if purpose:
        query = query.where(CannedReply.purpose == purpose)
    if active_only:
        query = query.where(CannedReply.active.is_(True))
    return list(session.scalars(query.order_by(CannedReply.active.desc(), CannedReply.purpose,
                                               CannedReply.title)))


def save_canned_reply(session: Session, reply: CannedReply | None, *, purpose: str, title: str,
                      body: str) -> CannedReply:
    if purpose not in CANNED_PURPOSE_LABELS:
        raise Refused(_l("Choose what the text is for from the list."), "purpose")
    if reply is None:
        reply = CannedReply(active=True)
        session.add(reply)
    reply.purpose, reply.title, reply.body = purpose, title, body
    session.flush()
    log.info("canned reply %s saved", reply.id)
    return reply


def set_canned_reply_active(session: Session, reply: CannedReply, active: bool) -> None:
    reply.active = active
    log.info("canned reply %s %s", reply.id, "reactivated" if active else "deactivated")


# -- the outbox -------------------------------------------------------------------------------


def failed_outbox_page(session: Session, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of the failed outbox rows, newest first: `after` is the last id shown."""
    rows = list(outbox.failed_messages(session, after_id=after, size=size + 1))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].id if more else None)
