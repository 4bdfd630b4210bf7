"""The Front can take a published answer down, and a new redaction keeps its place."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import lifecycle
from portal.lifecycle import Actor, TransitionRefused
from portal.models import Case, CaseEvent
from portal.vocab import CaseStatus
from tests.factories import PASSWORD
from tests.helpers import csrf_of


@pytest.fixture
def published(factory, session):
    case = factory.case_in(CaseStatus.SUBMITTED, publish_consent=True)
    factory.redact(case, "Hồ sơ cấp phép xây dựng quá hạn ba tuần.")
    for step in ("forward", "acknowledge", "answer", "accept_answer"):
        factory.step(case, step)
    session.commit()
    assert case.published_at is not None
    return case


def test_a_published_answer_is_taken_down_on_the_record(published, factory, session, auth,
                                                        client):
    moderator = factory.moderator()
    session.commit()
    assert published.reference in client.get("/answers").get_data(as_text=True)
    auth.login(moderator.email, PASSWORD)
    html = client.get(f"/moderation/cases/{published.id}").get_data(as_text=True)
    response = client.post(f"/moderation/cases/{published.id}/act/unpublish", data={
        "csrf_token": csrf_of(html), "version": str(published.version),
        "reason": "Câu trả lời nêu tên người phản ánh."})
    assert response.status_code == 303
    session.expire_all()
    case = session.get(Case, published.id)
    assert case.published_at is None and case.public_search_text == ""
    assert session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                           .order_by(CaseEvent.seq.desc())).first() == "unpublish"
    assert client.get(f"/answers/{case.reference}").status_code == 404


def test_an_unpublished_case_has_nothing_to_take_down(factory, session):
    case = factory.case_in(CaseStatus.RESOLVED)
    with pytest.raises(TransitionRefused):
        lifecycle.unpublish(session, case, Actor.staff(factory.moderator()), reason="x")


def test_a_new_redaction_keeps_the_answers_place(published, factory, session):
    first = published.published_at
    lifecycle.redact(session, published, Actor.staff(factory.moderator()),
                     redacted_text="Hồ sơ cấp phép quá hạn.")
    session.commit()
    assert published.published_at == first
    assert "ba tuan" not in published.public_search_text
