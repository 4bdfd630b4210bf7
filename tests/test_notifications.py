"""The outbox: delivered once, claimed before sending, retried when the mail server fails."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from portal import outbox
from portal.db import utcnow
from portal.models import OutboxMessage


def mails(mail_dir) -> list:
    return sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []


def test_a_message_is_delivered_once_however_often_it_is_asked(app, factory, session, mail_dir):
    case, _ = factory.report()
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    with app.app_context():
        assert outbox.deliver(message.id) is True
        assert outbox.deliver(message.id) is False
        assert outbox.relay() == 0
    assert len(mails(mail_dir)) == 1
    session.refresh(message)
    assert message.status == "sent" and message.sent_at is not None


def test_a_claimed_message_waits_for_its_lease_to_end(app, factory, session, mail_dir):
    factory.report()
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    message.status, message.next_attempt_at = "sending", utcnow() + timedelta(minutes=5)
    session.commit()
    with app.app_context():
        assert outbox.relay() == 0  # another deliverer holds it
        message.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.commit()
        assert outbox.relay() == 1  # that deliverer died: the claim expired
    assert len(mails(mail_dir)) == 1


def test_a_mail_server_that_is_down_means_a_retry_later_not_a_loss(app, factory, session,
                                                                   mail_dir):
    factory.report()
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    settings = app.config["PORTAL_SETTINGS"]
    app.config["PORTAL_SETTINGS"] = dataclasses.replace(settings, mail_url="smtp://127.0.0.1:1")
    with app.app_context():
        assert outbox.deliver(message.id) is False
    session.refresh(message)
    assert message.status == "pending" and message.attempts == 1
    assert "ConnectionRefusedError" in message.last_error
    assert message.next_attempt_at > utcnow()

    app.config["PORTAL_SETTINGS"] = settings
    message.next_attempt_at = utcnow()
    session.commit()
    with app.app_context():
        assert outbox.deliver(message.id) is True
    assert len(mails(mail_dir)) == 1


def test_a_message_that_keeps_failing_is_marked_failed(app, factory, session):
    factory.report()
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    message.attempts = outbox.MAX_ATTEMPTS - 1
    session.commit()
    settings = app.config["PORTAL_SETTINGS"]
    app.config["PORTAL_SETTINGS"] = dataclasses.replace(settings, mail_url="smtp://127.0.0.1:1")
    with app.app_context():
        outbox.deliver(message.id)
    session.refresh(message)
    assert message.status == "failed"
