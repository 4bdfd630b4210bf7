"""Notifications: written to the outbox with the change that causes them (`portal.outbox` delivers).

A message names ids only; what it says is rendered at delivery from the case as it
is then, in the reporter's language. Messages to an agency never carry the
reporter's identity, nor do escalations, which go to agency and Front staff alike.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.routing import city_committee
from portal import mail, receipts
from portal.db import utcnow
from portal.models import Agency, Case, FrontCommittee, OutboxMessage, User
from portal.vocab import AGENCY_ROLES, STATUS_LABELS, Role

log = logging.getLogger(__name__)

REPORTER_KINDS = {"receipt", "status_changed", "info_requested", "answer_published"}
AGENCY_KINDS = {"forwarded_to_agency", "transfer_refused", "answer_returned", "case_disputed"}
# Addressed to staff chosen by the rung of the escalation ladder (see `escalation_recipients`).
STAFF_KINDS = {"escalation"}
# Addressed to one staff account: an officer invited by the head of their agency.
ACCOUNT_KINDS = {"invitation"}


def queue(session: Session, kind: str, **payload: Any) -> OutboxMessage:
    """Add a notification to the outbox in the caller's transaction."""
    if kind not in REPORTER_KINDS | AGENCY_KINDS | STAFF_KINDS | ACCOUNT_KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    message = OutboxMessage(kind=kind, payload=payload, next_attempt_at=utcnow())
    session.add(message)
    session.info.setdefault(NEW_MESSAGES, []).append(message)
    return message


NEW_MESSAGES = "outbox_new"


def _reporter_email(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    case = session.get(Case, message.payload["case_id"])
    if case is None or not case.reporter_email:
        return []
    with force_locale(case.locale):
        code = (receipts.tracking_code_for(current_app.config["SECRET_KEY"], case.submission_token)
                if message.kind == "receipt" and receipts.is_submission_token(case.submission_token)
                else None)
        context = {"case": case, "kind": message.kind,
                   "status_label": str(STATUS_LABELS[case.status]),
                   "tracking_code": code,
                   "track_url": current_app.config["PORTAL_SETTINGS"].base_url + "/track"}
        subject = (_("Your report %(ref)s was received", ref=case.reference)
                   if message.kind == "receipt"
                   else _("News about your report %(ref)s", ref=case.reference))
        text = render_template("email/reporter.txt", **context)
        html = render_template("email/reporter.html", **context)
    return [mail.build(case.reporter_email, subject, text, html)]


def _agency_emails(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    case = session.get(Case, message.payload["case_id"])
    agency = session.get(Agency, message.payload["agency_id"])
    if case is None or agency is None:
        return []
    staff = session.scalars(
        select(User).where(User.agency_id == agency.id, User.at_work(),
                           User.role.in_(list(AGENCY_ROLES)))
    ).all()
    emails = []
    with force_locale("vi"):
        # Only what the agency may see: the reference and the redacted text, no identity.
        context = {"case": case, "agency": agency, "kind": message.kind,
                   "case_url": current_app.config["PORTAL_SETTINGS"].base_url
                   + f"/agency/cases/{case.id}"}
        subject = _("Case %(ref)s for %(agency)s", ref=case.reference, agency=agency.name)
        text = render_template("email/agency.txt", **context)
        html = render_template("email/agency.html", **context)
        for user in staff:
            emails.append(mail.build(user.email, subject, text, html))
    return emails


ESCALATION_STEP_LABELS = {
    "officer": _l("reminder to the officer"),
    "head": _l("escalated to the head of the agency"),
    "supervisor": _l("escalated to the supervising authority"),
}
# Why this person receives the escalation, which decides how the message opens.
ESCALATION_REASONS = {
    "named_officer": _l("A case you are responsible for is past its deadline. Please handle it "
                        "now."),
    "agency_officers": _l("A case of your agency is past its deadline and no officer is named for "
                          "it. Please handle it now."),
    "agency_head": _l("A case of your agency is still past its deadline after a reminder to the "
                      "officer. As head of the agency, please see that it is handled."),
    "agency_without_head": _l("A case of your agency is still past its deadline after a reminder. "
                              "No head of your agency is registered on the portal, so every "
                              "officer receives this message."),
    "front_agency_stage": _l("An agency is past its deadline on this case after reminders to the "
                             "officer and the head of the agency. The case is escalated to the "
                             "Front, which supervises the agency."),
    "front_stage": _l("This case has waited for the Front past its deadline. It is escalated to "
                      "the supervisors of the Front committee and, for a commune or ward, to the "
                      "city Front committee."),
}


def _active(session: Session, *where) -> list[User]:
    return list(session.scalars(select(User).where(User.at_work(), *where)
                                .order_by(User.id)))


def _front_staff(session: Session, committee_id: int) -> list[User]:
    """A committee's supervisors; its moderators when it has none, so someone is told."""
    return (_active(session, User.front_committee_id == committee_id,
                    User.role == Role.SUPERVISOR)
            or _active(session, User.front_committee_id == committee_id,
                       User.role == Role.MODERATOR))


def escalation_recipients(session: Session, payload: dict[str, Any]) -> list[tuple[User, str]]:
    """Who an escalation rung is for, each with the reason (a key of ESCALATION_REASONS)."""
    step, agency_id = payload["step"], payload.get("agency_id")
    if step == "officer":
        named = session.get(User, payload["officer_id"]) if payload.get("officer_id") else None
        if named is not None and named.active and named.agency_id == agency_id:
            return [(named, "named_officer")]
        officers = (_active(session, User.agency_id == agency_id,
                            User.role == Role.AGENCY_OFFICER)
                    or _active(session, User.agency_id == agency_id,
                               User.role.in_(list(AGENCY_ROLES))))
        return [(user, "agency_officers") for user in officers]
    if step == "head":
        heads = _active(session, User.agency_id == agency_id, User.role == Role.AGENCY_HEAD)
        if heads:
            return [(user, "agency_head") for user in heads]
        return [(user, "agency_without_head") for user in
                _active(session, User.agency_id == agency_id, User.role.in_(list(AGENCY_ROLES)))]
    reason = "front_stage" if payload.get("front_stage") else "front_agency_stage"
    committee = session.get(FrontCommittee, payload["committee_id"])
    if committee is None:
        return []
    users = _front_staff(session, committee.id)
    if not committee.is_city:
        # Overdue cases at commune level escalate to the city Front as well (the design).
        users += _front_staff(session, city_committee(session).id)
    unique = {user.id: user for user in users}
    return [(user, reason) for user in unique.values()]


def _escalation_emails(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    payload = message.payload
    case = session.get(Case, payload["case_id"])
    if case is None:
        return []
    # Before a forward the case has no agency of its own: the agency reported is the one named.
    agency = session.get(Agency, payload.get("agency_id") or case.agency_id)
    base_url = current_app.config["PORTAL_SETTINGS"].base_url
    recipients = escalation_recipients(session, payload)
    if not recipients:
        log.warning("escalation %s of case %s has nobody to go to", payload["step"], case.id)
    emails = []
    with force_locale("vi"):
        # Staff of the agency and of the Front alike read only what an agency may see: the
        # reference, the agency, the deadline and the reviewed text, never the reporter.
        common = {
            "case": case, "agency": agency, "stage": payload["stage"],
            "due_on": date.fromisoformat(payload["due_on"]),
            "days_overdue": payload["days_overdue"],
            "show_text": not case.confidential or case.description_redacted is not None,
        }
        subject = _("Overdue case %(ref)s: %(step)s", ref=case.reference,
                    step=ESCALATION_STEP_LABELS[payload["step"]])
        for user, reason in recipients:
            area = "moderation" if user.front_committee_id is not None else "agency"
            context = {**common, "intro": ESCALATION_REASONS[reason],
                       "case_url": f"{base_url}/{area}/cases/{case.id}"}
            emails.append(mail.build(user.email, subject,
                                     render_template("email/escalation.txt", **context),
                                     render_template("email/escalation.html", **context)))
    return emails


def _invitation_email(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    """The link to choose a password, made now from the account as it is: never stored.

    An account deactivated, or whose password was chosen, since the invitation gets nothing.
    """
    from portal.agency.team import ACTIVATION_MAX_AGE, activation_url, is_invited

    user = session.get(User, message.payload["user_id"])
    if user is None or not user.active or user.agency is None or not is_invited(user):
        return []
    inviter = session.get(User, message.payload.get("invited_by_id") or 0)
    with force_locale("vi"):
        context = {"user": user, "agency": user.agency, "inviter": inviter,
                   "activation_url": activation_url(user),
                   "hours": ACTIVATION_MAX_AGE // 3600,
                   "sign_in_url": current_app.config["PORTAL_SETTINGS"].base_url + "/login"}
        subject = _("Your account on the Hanoi accountability portal")
        text = render_template("email/invitation.txt", **context)
        html = render_template("email/invitation.html", **context)
    return [mail.build(user.email, subject, text, html)]


def render(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    if message.kind in REPORTER_KINDS:
        return _reporter_email(session, message)
    if message.kind in ACCOUNT_KINDS:
        return _invitation_email(session, message)
    if message.kind in STAFF_KINDS:
        return _escalation_emails(session, message)
    return _agency_emails(session, message)
