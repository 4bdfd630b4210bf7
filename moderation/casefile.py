"""The Front's file on a case: everything about it, and the actions open to the reader now."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from moderation.duplicates import Suggestion, similar_cases
from moderation.forms import ACTION_FORMS, ActionForm
from moderation.queue import committee_scope
from portal import lifecycle
from portal.auth.permissions import staff
from portal.db import get_session
from portal.lifecycle import Actor
from portal.models import Agency, Answer, Case, CaseEvent, TransferRequest, User
from portal.tracking import CaseView, case_view


def get_front_case(case_id: int) -> Case:
    """The case, if it is in the reader's queue; else 404, as for a case that does not exist."""
    case = get_session().scalar(select(Case).where(Case.id == case_id, committee_scope(staff())))
    if case is None:
        abort(404)
    return case


@dataclass
class CaseFile:
    case: Case
    view: CaseView
    events: list[CaseEvent]
    answers: list[Answer]
    transfers: list[TransferRequest]
    agencies: dict[int, Agency]
    suggestions: list[Suggestion]
    forms: dict[str, ActionForm]
    show_identity: bool
    forward_agencies: list[tuple[int, str]] = field(default_factory=list)
    failed_action: str | None = None

    @property
    def notes(self) -> list[CaseEvent]:
        return [e for e in self.events if e.action == "note"]


def _forward_agencies(session: Session, user: User) -> list[tuple[int, str]]:
    """The agencies this member may forward to: their commune's bodies, or all for the city."""
    query = select(Agency).where(Agency.active.is_(True)).order_by(Agency.kind, Agency.name)
    if not user.front_committee.is_city:
        query = query.where(Agency.ward_code == user.front_committee.ward_code)
    return [(a.id, a.name) for a in session.scalars(query)]


def case_file(session: Session, case: Case, user: User, *, show_identity: bool = False,
              failed_action: str | None = None, failed_form: ActionForm | None = None) -> CaseFile:
    actor = Actor.staff(user)
    events = session.scalars(select(CaseEvent).options(joinedload(CaseEvent.actor))
                             .where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    answers = session.scalars(select(Answer).where(Answer.case_id == case.id)
                              .order_by(Answer.id)).all()
    transfers = session.scalars(select(TransferRequest).where(TransferRequest.case_id == case.id)
                                .order_by(TransferRequest.id)).all()
    agency_ids = {t.from_agency_id for t in transfers} | {t.to_agency_id for t in transfers}
    agencies = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))}

    forms: dict[str, ActionForm] = {}
    for action, form_class in ACTION_FORMS.items():
        if not lifecycle.allowed(case, actor, action):
            continue
        if action == "unpublish" and case.published_at is None:
            continue  # nothing to take down
        if action == failed_action and failed_form is not None:
            # The form comes back as it was sent, version included: had a colleague changed the
            # case meanwhile, sending it again must not adopt that change unseen.
            forms[action] = failed_form
            continue
        form = form_class(formdata=None, version=case.version)
        if action == "redact":
            form.redacted_text.data = case.public_description
        forms[action] = form
    forward_agencies = []
    if "forward" in forms:
        forward_agencies = _forward_agencies(session, user)
        forms["forward"].agency_id.choices = [("", "—")] + forward_agencies
        if forms["forward"].agency_id.data is None:
            forms["forward"].agency_id.data = case.agency_id
    suggestions = similar_cases(session, case, user) if "merge" in forms else []
    return CaseFile(case=case, view=case_view(session, case), events=list(events),
                    answers=list(answers), transfers=list(transfers), agencies=agencies,
                    suggestions=suggestions, forms=forms,
                    show_identity=show_identity or not case.confidential,
                    forward_agencies=forward_agencies, failed_action=failed_action)
