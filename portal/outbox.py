"""Delivering the outbox: nothing written there is lost, and nothing is done twice.

A row moves through these states, each move a conditional UPDATE so that of two
processes racing for a row only one wins:

    pending ──relay──▶ queued ──worker──▶ sending ──▶ sent
       ▲                  │                  │
       └──────────────────┴── lease ends ────┴──▶ pending again (retry, with backoff)
                                                  └──▶ failed (after MAX_ATTEMPTS; replayable)

`queued` and `sending` carry a lease in `next_attempt_at`: a relay or worker that dies
(Redis down, SIGKILL) leaves a claim that expires, and the relay hands the row out again.
With `REDIS_URL` the web process only enqueues, with a job id that names the row and the
attempt, and `rq` workers deliver; a delivery job's RQ timeout is the lease, so no job
still runs once its claim has ended and another worker may have the row. Without it (the
embedded default) the same function runs in-process after the response has been sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import after_this_request, current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from portal import mail, notifications, queues
from portal.db import new_session, utcnow
from portal.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
NEW_MESSAGES = notifications.NEW_MESSAGES
JOB = "portal.jobs.deliver_outbox_message"


def lease() -> timedelta:
    return timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min, ... between tries: a mail server has time to come back."""
    return timedelta(seconds=current_app.config["OUTBOX_RETRY_SECONDS"] * 2 ** (attempts - 1))


def _due():
    """Rows to hand out: waiting, or claimed by someone whose lease has run out."""
    return and_(OutboxMessage.status.in_(("pending", "queued", "sending")),
                OutboxMessage.next_attempt_at <= utcnow())


def _claim(session: Session, message_id: int, condition, status: str) -> bool:
    claimed = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, condition)
        .values(status=status, next_attempt_at=utcnow() + lease())
    ).rowcount
    session.commit()
    return bool(claimed)


# -- the worker's side --------------------------------------------------------------------------


def deliver(message_id: int) -> bool:
    """Deliver one message: the job an `rq` worker runs. Safe to run twice: a sent row is left."""
    settings = current_app.config["PORTAL_SETTINGS"]
    session = new_session()
    try:
        # A queued row is this job's to take at once; another must be due.
        mine = or_(OutboxMessage.status == "queued", _due())
        if not _claim(session, message_id, mine, "sending"):
            return False
        message = session.get(OutboxMessage, message_id)
        try:
            for email in notifications.render(session, message):
                mail.send(settings, email)
        except Exception as exc:  # any failure is retried later, never lost
            # A database error leaves the transaction unusable: start a fresh one (the claim
            # is committed, so nothing of it is lost) to record the failure.
            session.rollback()
            _failed(session, message, exc)
            return False
        message.status, message.sent_at = "sent", utcnow()
        session.commit()
        return True
    finally:
        session.close()


def _failed(session: Session, message: OutboxMessage, exc: Exception) -> None:
    if message.status != "sending":
        return  # this claim ended and another deliverer has finished the row since: leave it
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        log.error("outbox message %s failed for good after %s attempts", message.id,
                  message.attempts)
    else:
        message.status = "pending"
        message.next_attempt_at = utcnow() + backoff(message.attempts)
        log.warning("outbox message %s failed (attempt %s); retried later", message.id,
                    message.attempts)
    session.commit()


# -- the relay ---------------------------------------------------------------------------------


def _enqueue(message: OutboxMessage) -> None:

    # The id names the row and the attempt: a relay that repeats itself after a crash finds
    # the job already there instead of making a second one.
    queues.enqueue("notifications", JOB, message.id,
                   job_id=f"outbox-{message.id}-{message.attempts}",
                   timeout=current_app.config["OUTBOX_LEASE_SECONDS"])


def hand_out(message_ids: list[int]) -> int:
    """Give these rows to the workers (with Redis) or deliver them here (without)."""
    if not queues.configured():
        return sum(deliver(i) for i in message_ids)
    session = new_session()
    handed = 0
    try:
        for message_id in message_ids:
            if not _claim(session, message_id, _due(), "queued"):
                continue  # another relay has it, or it was sent meanwhile
            message = session.get(OutboxMessage, message_id)
            try:
                _enqueue(message)
            except Exception as exc:  # Redis is down: the row waits, nothing is lost
                log.warning("outbox message %s could not be queued: %s", message_id, exc)
                message.status, message.next_attempt_at = "pending", utcnow()
                session.commit()
                break
            handed += 1
    finally:
        session.close()
    return handed


def relay(limit: int = 500) -> int:
    """The periodic job: hand out every row that is due, oldest first."""
    session = new_session()
    try:
        ids = session.scalars(select(OutboxMessage.id).where(_due())
                              .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                              .limit(limit)).all()
    finally:
        session.close()
    return hand_out(list(ids))


def deliver_after_response(session: Session) -> None:
    """After the response has gone out, hand out what this request's committed change queued.

    The person never waits for a mail server or for Redis: when either is down the rows stay
    pending, and the relay hands them out later.
    """
    hand_out_after_response([m.id for m in session.info.pop(NEW_MESSAGES, [])
                             if m.id is not None])


def hand_out_after_response(ids: list[int]) -> None:
    """Hand out these committed rows once the response has gone out (see above)."""
    if not ids:
        return
    app = current_app._get_current_object()

    def after(response):
        def run():
            with app.app_context():
                try:
                    hand_out(ids)
                except Exception:  # the relay picks them up; the person already has the page
                    log.exception("handing out outbox messages %s failed", ids)
        response.call_on_close(run)
        return response

    after_this_request(after)


# -- for administrators --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: rows not yet delivered, by state, and the oldest waiting one."""

    pending: int
    queued: int
    sending: int
    failed: int
    oldest_pending: datetime | None


def backlog(session: Session) -> Backlog:
    counts = {status: count for status, count in session.execute(
        select(OutboxMessage.status, func.count()).where(
            OutboxMessage.status.in_(("pending", "queued", "sending", "failed")))
        .group_by(OutboxMessage.status))}
    oldest = session.scalar(select(func.min(OutboxMessage.created_at))
                            .where(OutboxMessage.status == "pending"))
    return Backlog(pending=counts.get("pending", 0), queued=counts.get("queued", 0),
                   sending=counts.get("sending", 0), failed=counts.get("failed", 0),
                   oldest_pending=oldest)


def failed_messages(session: Session, after_id: int | None = None, size: int = 50):
    """Failed rows, newest first; `after_id` is the last id of the page before (key paging)."""
    query = select(OutboxMessage).where(OutboxMessage.status == "failed")
    if after_id:
        query = query.where(OutboxMessage.id < after_id)
    return session.scalars(query.order_by(OutboxMessage.id.desc()).limit(size)).all()


def replay(session: Session, message_id: int) -> bool:
    """Give a failed message a fresh set of attempts; the relay hands it out."""
    replayed = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id,
                                    OutboxMessage.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow())
    ).rowcount
    return bool(replayed)
