"""Published answers: which cases the public reads, what it reads of them, and how it finds them.

Cases go through the real lifecycle: a case is published only when the reporter agreed, the
Front reviewed the text and accepted the agency's answer; a returned answer takes it down.
The public reads the reviewed text, never the original one nor the reporter's identity.
"""

from __future__ import annotations

import re
from html import unescape

from portal import lifecycle
from portal.lifecycle import Actor
from portal.models import Case
from portal.published import answers as published
from portal.vocab import Outcome

REPORTER = "Trịnh Thị Quyên"
EMAIL = "quyen.reporter@example.org"
PHONE = "0912 345 678"
ADDRESS = "Số 12 ngõ Văn Chương"
ORIGINAL = (f"Tôi là {REPORTER}, ở {ADDRESS}. Hồ sơ cấp phép xây dựng nhà tôi đã quá hạn "
            "ba tuần mà phường không trả lời.")
REDACTED = "Người phản ánh cho biết hồ sơ cấp phép xây dựng đã quá hạn ba tuần mà không được trả lời."
FINDINGS = "Bộ phận một cửa để sót hồ sơ; đã cấp giấy phép xây dựng."
ACTIONS = "Nhắc nhở công chức tiếp nhận, rút kinh nghiệm toàn phòng."
ASSESSMENT = "Sở đã khắc phục, trả lời đầy đủ."


def make_case(factory, session, *, consent=True, redacted: str | None = REDACTED,
              agency="SO-XD", sector="construction", findings=FINDINGS, actions=ACTIONS,
              accept=True) -> Case:
    case, _code = factory.report(agency, description=ORIGINAL, reporter_name=REPORTER,
                                 reporter_email=EMAIL, reporter_phone=PHONE, address=ADDRESS,
                                 publish_consent=consent, sector=sector)
    if redacted is not None:
        factory.redact(case, redacted)
    factory.step(case, "forward", agency)
    factory.step(case, "acknowledge", agency)
    lifecycle.answer(session, case, Actor.staff(factory.officer(agency)), findings=findings,
                     actions_taken=actions, outcome=Outcome.SUBSTANTIATED)
    if accept:
        lifecycle.accept_answer(session, case, Actor.staff(factory.moderator()),
                                assessment=ASSESSMENT)
    session.commit()
    return case


def listed(client, **query) -> str:
    response = client.get("/answers", query_string=query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def assert_no_identity(html: str) -> None:
    for secret in (REPORTER, EMAIL, PHONE, ADDRESS, "Tôi là", "Quyên", "quyen"):
        assert secret not in html, f"{secret!r} is public"


def test_consent_a_reviewed_text_and_an_accepted_answer_publish_the_case(client, factory,
                                                                          session):
    case = make_case(factory, session)
    assert case.published_at is not None

    html = listed(client)
    assert case.reference in html
    for text in (REDACTED, FINDINGS, ACTIONS, ASSESSMENT, "Sở Xây dựng"):
        assert text in html
    assert_no_identity(html)

    page = client.get(f"/answers/{case.reference}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for text in (case.reference, REDACTED, FINDINGS, ACTIONS, ASSESSMENT):
        assert text in body
    assert_no_identity(body)


def test_without_consent_an_accepted_answer_stays_unpublished(client, factory, session):
    case = make_case(factory, session, consent=False)
    assert case.published_at is None
    assert case.reference not in listed(client)
    assert client.get(f"/answers/{case.reference}").status_code == 404


def test_consent_without_the_fronts_review_of_the_text_publishes_nothing(client, factory,
                                                                           session):
    case = make_case(factory, session, redacted=None)
    assert case.status == "resolved" and case.published_at is None
    html = listed(client)
    assert case.reference not in html
    assert ORIGINAL not in html
    assert client.get(f"/answers/{case.reference}").status_code == 404


def test_an_answer_not_yet_accepted_is_not_published(client, factory, session):
    case = make_case(factory, session, accept=False)
    assert case.status == "answered"
    assert case.reference not in listed(client)
    assert client.get(f"/answers/{case.reference}").status_code == 404


def test_a_returned_answer_takes_the_case_down(client, factory, session):
    case = make_case(factory, session)
    assert case.reference in listed(client)
    assert client.get(f"/answers/{case.reference}").status_code == 200

    # The reporter disputes; the Front agrees and sends the answer back to the agency.
    factory.step(case, "dispute")
    lifecycle.return_answer(session, case, Actor.staff(factory.moderator()),
                            reason="Chưa giải quyết dứt điểm.")
    session.commit()
    assert case.published_at is None and case.public_search_text == ""

    assert case.reference not in listed(client)
    assert client.get(f"/answers/{case.reference}").status_code == 404
    assert case.reference not in listed(client, q="cap phep")


def test_search_ignores_accents_and_reads_only_the_public_text(client, factory, session):
    case = make_case(factory, session)
    other = make_case(factory, session, redacted="Trường học thu các khoản phí ngoài quy định.",
                      findings="Nhà trường đã hoàn trả tiền cho phụ huynh.", actions="",
                      agency="SO-YT", sector="education")

    # The reviewed text and the answer, typed without accents.
    for query in ("cap phep xay dung", "QUA HAN", "bo phan mot cua", "rut kinh nghiem"):
        html = listed(client, q=query)
        assert case.reference in html, query
        assert other.reference not in html, query
    assert other.reference in listed(client, q="hoan tra")

    # Words only the original text holds, such as the reporter's name and address, find
    # nothing, with or without accents: the Front's search text is never searched here.
    for query in ("Quyên", "quyen", "trinh thi", "van chuong", "Tôi là"):
        html = listed(client, q=query)
        assert case.reference not in html, query

    # A reference finds its case; LIKE wildcards are plain characters.
    assert case.reference in listed(client, q=case.reference.lower())
    assert case.reference not in listed(client, q="%")
    assert case.reference not in listed(client, q="_")


def test_filters_by_agency_code_and_sector(client, factory, session):
    building = make_case(factory, session)
    health = make_case(factory, session, agency="SO-YT", sector="health")

    html = listed(client, agency="SO-XD")
    assert building.reference in html and health.reference not in html
    html = listed(client, agency="SO-YT")
    assert health.reference in html and building.reference not in html
    html = listed(client, sector="health")
    assert health.reference in html and building.reference not in html
    html = listed(client, agency="SO-XD", sector="health")
    assert building.reference not in html and health.reference not in html

    # Unknown values filter nothing, and say so for the agency.
    html = listed(client, agency="NO-SUCH", sector="no-such")
    assert building.reference in html and health.reference in html


def test_a_transferred_case_shows_under_both_agencies(client, factory, session):
    case, _code = factory.report("SO-XD", description=ORIGINAL, publish_consent=True)
    factory.redact(case, REDACTED)
    factory.step(case, "forward", "SO-XD")
    factory.step(case, "acknowledge", "SO-XD")
    front = Actor.staff(factory.moderator())
    lifecycle.request_transfer(session, case, Actor.staff(factory.officer("SO-XD")),
                               to_agency_id=factory.agency("SO-YT").id,
                               reason="Thuộc thẩm quyền Sở Y tế.")
    lifecycle.approve_transfer(session, case, front)
    factory.step(case, "acknowledge", "SO-YT")
    factory.step(case, "answer", "SO-YT")
    factory.step(case, "accept_answer", "SO-YT")
    session.commit()
    assert case.published_at is not None
    assert case.reference in listed(client, agency="SO-YT")
    assert case.reference in listed(client, agency="SO-XD")


def test_newest_first_a_page_at_a_time(client, factory, session, monkeypatch):
    monkeypatch.setattr(published, "PAGE_SIZE", 2)
    cases = [make_case(factory, session) for _ in range(5)]
    newest_first = [c.reference for c in reversed(cases)]

    seen: list[str] = []
    url = "/answers"
    for _page in range(5):
        html = client.get(url).get_data(as_text=True)
        on_page = [ref for ref in newest_first if f">{ref}</a>" in html]
        assert len(on_page) <= 2
        seen += on_page
        following = re.search(r'rel="next" href="([^"]+)"', html)
        if following is None:
            break
        url = unescape(following.group(1))
    assert seen == newest_first


def test_unpublished_and_malformed_references_are_404(client, factory, session):
    unpublished = factory.case_in("in_progress")
    session.commit()
    case = make_case(factory, session)
    assert client.get(f"/answers/{unpublished.reference}").status_code == 404
    # The same id under another year's prefix is no reference of a published case.
    other_year = "PA00-" + case.reference.split("-")[1]
    for reference in ("PA26-9999999", other_year, "nonsense", "PA26-", "PA26-abc",
                      "PA26-99999999999999999999"):
        assert client.get(f"/answers/{reference}").status_code == 404, reference
    assert client.get(f"/answers/{case.reference.lower()}").status_code == 200


def test_the_answers_are_linked_from_every_page(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/answers"' in html and 'href="/open-data"' in html
