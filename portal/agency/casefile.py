"""What an agency sees of a case: never the reporter's identity, only the Front-reviewed text."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import lifecycle
from portal.agency.forms import ACTION_FORMS
from portal.lifecycle import Actor
from portal.models import Agency, Answer, Assignment, Attachment, Case, CaseEvent, User
from portal.tracking import CaseView, case_view
from portal.vocab import AGENCY_ROLES

# What happens inside the Front (notes, who took the case, who looked at an identity, what
# was redacted) stays there.
FRONT_INTERNAL = frozenset({"view_identity", "redact", "note", "claim", "release", "refer_up"})
# Reasons the agency reads: its own and the Front's words to it, and the reporter's dispute.
AGENCY_REASONS = frozenset({
    "forward", "request_extension", "request_transfer", "approve_transfer", "refuse_transfer",
    "return_answer", "accept_answer", "uphold_answer", "dispute",
})


@dataclass
class AgencyCaseFile:
    case: Case
    view: CaseView
    events: list[CaseEvent]
    recommendation: str
    answers: list[Answer]
    attachments: list[Attachment]
    forms: dict
    officers: list[User]
    transfer_targets: list[tuple[int, str]]

    def reason(self, event: CaseEvent) -> str | None:
        if event.action not in AGENCY_REASONS:
            return None
        if event.action == "dispute" and self.case.confidential:
            return None  # the reporter's own words, which the Front has not reviewed
        return event.reason


def case_file(session: Session, case: Case, user: User, *, failed_action: str | None = None,
              failed_form=None) -> AgencyCaseFile:
    actor = Actor.staff(user)
    events = [e for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                         .order_by(CaseEvent.seq))
              if e.action not in FRONT_INTERNAL]
    assignment = session.scalars(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.agency_id == user.agency_id)
        .order_by(Assignment.id.desc())).first()
    answers = session.scalars(select(Answer).join(Assignment, Answer.assignment_id == Assignment.id)
                              .where(Answer.case_id == case.id,
                                     Assignment.agency_id == user.agency_id)
                              .order_by(Answer.id)).all()
    # Its own documents, never those of an agency that held the case before. A confidential
    # reporter's own files may show who they are: the agency works from the Front's text.
    own_answers = {a.id for a in answers}
    attachments = [a for a in case.attachments
                   if (a.uploaded_by == "agency" and a.answer_id in own_answers)
                   or (a.uploaded_by == "reporter" and not case.confidential)]
    officers = session.scalars(select(User).where(
        User.agency_id == user.agency_id, User.at_work(),
        User.role.in_(sorted(AGENCY_ROLES))).order_by(User.name)).all()
    targets = [(a.id, a.name) for a in session.scalars(
        select(Agency).where(Agency.active.is_(True), Agency.id != user.agency_id)
        .order_by(Agency.kind, Agency.name))]

    forms = {}
    for action, form_class in ACTION_FORMS.items():
        if not lifecycle.allowed(case, actor, action):
            continue
        form = failed_form if action == failed_action and failed_form is not None else \
            form_class(formdata=None, version=case.version)
        if action == "assign_officer":
            form.officer_id.choices = [("", "—")] + [(o.id, o.name or o.email) for o in officers]
        if action == "request_transfer":
            form.to_agency_id.choices = [("", "—")] + targets
        forms[action] = form
    return AgencyCaseFile(case=case, view=case_view(session, case), events=events,
                          recommendation=assignment.recommendation if assignment else "",
                          answers=list(answers), attachments=attachments, forms=forms,
                          officers=list(officers), transfer_targets=targets)
