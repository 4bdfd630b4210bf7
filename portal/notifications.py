"""Notifications: written to the outbox with the change that causes them, delivered after commit.

A message names ids only; what it says is rendered at delivery from the case as it
is then, in the reporter's language. Messages to an agency never carry the
reporter's identity.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import after_this_request, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import mail, receipts
from portal.db import new_session, utcnow
from portal.models import Agency, Case, OutboxMessage, User
from portal.vocab import AGENCY_ROLES, STATUS_LABELS

log = logging.getLogger(__name__)

REPORTER_KINDS = {"receipt", "status_changed", "info_requested", "answer_published"}
AGENCY_KINDS = {"forwarded_to_agency", "transfer_refused", "answer_returned", "case_disputed"}
MAX_ATTEMPTS = 8
CLAIM_LEASE = timedelta(minutes=10)
DELIVERABLE = ("pending", "sending")


def queue(session: Session, kind: str, **payload: Any) -> OutboxMessage:
    """Add a notification to the outbox in the caller's transaction."""
    if kind not in REPORTER_KINDS | AGENCY_KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    message = OutboxMessage(kind=kind, payload=payload, next_attempt_at=utcnow())
    session.add(message)
    session.info.setdefault(NEW_MESSAGES, []).append(message)
    return message


NEW_MESSAGES = "outbox_new"


def deliver_after_response(session: Session) -> None:
    """Deliver, once the response has gone out, what this request's committed change queued.

    The person never waits for a mail server: a slow or failing one only leaves the rows
    pending, to be retried.
    """
    ids = [m.id for m in session.info.pop(NEW_MESSAGES, []) if m.id is not None]
    if not ids:
        return
    app = current_app._get_current_object()

    def deliver_now(response):
        def run():
            with app.app_context():
                for message_id in ids:
                    deliver(message_id)
        response.call_on_close(run)
        return response

    after_this_request(deliver_now)


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
        select(User).where(User.agency_id == agency.id, User.active.is_(True),
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


def render(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    if message.kind in REPORTER_KINDS:
        return _reporter_email(session, message)
    return _agency_emails(session, message)


def deliver(message_id: int) -> bool:
    """Deliver one outbox message; safe to call twice (a sent message is left alone)."""
    settings = current_app.config["PORTAL_SETTINGS"]
    session = new_session()
    try:
        # Claim the row for a while first: of two deliverers racing for it, only one sends, and
        # a deliverer that died mid-send leaves a claim that expires instead of a stuck row.
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status.in_(DELIVERABLE),
                   OutboxMessage.next_attempt_at <= utcnow())
            .values(status="sending", next_attempt_at=utcnow() + CLAIM_LEASE)
        ).rowcount
        session.commit()
        if not claimed:
            return False
        message = session.get(OutboxMessage, message_id)
        try:
            for email in render(session, message):
                mail.send(settings, email)
        except Exception as exc:  # any failure is retried later, never lost
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            message.status = "failed" if message.attempts >= MAX_ATTEMPTS else "pending"
            message.next_attempt_at = utcnow() + timedelta(seconds=30 * 2 ** message.attempts)
            log.warning("notification %s failed (attempt %s)", message.id, message.attempts)
            session.commit()
            return False
        message.status = "sent"
        message.sent_at = utcnow()
        session.commit()
        return True
    finally:
        session.close()


def deliver_pending(limit: int = 100) -> int:
    """Deliver what is due now, in-process (the embedded default, without Redis)."""
    session = new_session()
    try:
        ids = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status.in_(DELIVERABLE), OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.id).limit(limit)
        ).all()
    finally:
        session.close()
    return sum(deliver(i) for i in ids)
