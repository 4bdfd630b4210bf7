"""Notifications: written to the outbox with the change that causes them, delivered after commit.

A message names ids only; what it says is rendered at delivery from the case as it
is then, in the reporter's language. Messages to an agency never carry the
reporter's identity.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import mail
from portal.db import new_session, utcnow
from portal.models import Agency, Case, OutboxMessage, User
from portal.vocab import AGENCY_ROLES, STATUS_LABELS

log = logging.getLogger(__name__)

REPORTER_KINDS = {"receipt", "status_changed", "info_requested", "answer_published"}
AGENCY_KINDS = {"forwarded_to_agency", "transfer_refused", "answer_returned", "case_disputed"}
MAX_ATTEMPTS = 8


def queue(session: Session, kind: str, **payload: Any) -> OutboxMessage:
    """Add a notification to the outbox in the caller's transaction."""
    if kind not in REPORTER_KINDS | AGENCY_KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    message = OutboxMessage(kind=kind, payload=payload, next_attempt_at=utcnow())
    session.add(message)
    return message


def _reporter_email(session: Session, message: OutboxMessage) -> list[mail.EmailMessage]:
    case = session.get(Case, message.payload["case_id"])
    if case is None or not case.reporter_email:
        return []
    with force_locale(case.locale):
        context = {"case": case, "kind": message.kind,
                   "status_label": str(STATUS_LABELS[case.status]),
                   "tracking_code": message.payload.get("tracking_code"),
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
        message = session.get(OutboxMessage, message_id)
        if message is None or message.status != "pending":
            return False
        try:
            for email in render(session, message):
                mail.send(settings, email)
        except Exception as exc:  # any failure is retried later, never lost
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "failed"
            message.next_attempt_at = utcnow() + timedelta(seconds=30 * 2 ** message.attempts)
            log.warning("notification %s failed (attempt %s)", message.id, message.attempts)
            session.commit()
            return False
        message.status = "sent"
        message.sent_at = utcnow()
        # The tracking code travels in the receipt only; it is not kept once sent.
        message.payload = {k: v for k, v in message.payload.items() if k != "tracking_code"}
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
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.id).limit(limit)
        ).all()
    finally:
        session.close()
    return sum(deliver(i) for i in ids)
