"""The Open311 GeoReport v2 server, following the specification's own examples in both formats.

http://wiki.open311.org/GeoReport_v2 (frozen): discovery, services, a service definition,
POST a request with an api_key, tokens, GET requests with their filters and limits, GET one
request; XML and JSON; the error list with its HTTP status codes; jurisdiction_id.
"""

from __future__ import annotations

import email
import html
import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses the portal's own responses
from datetime import datetime, timedelta
from email import policy

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import DataError

from portal.db import utcnow
from portal.deadlines import hanoi_date
from portal.lifecycle import Actor
from portal.models import Agency, ApiKey, Case, CaseEvent, FrontCommittee, OutboxMessage
from portal.open311 import keys
from portal.receipts import hash_tracking_code
from portal.seed import hanoi_communes
from portal.vocab import CONDUCT_LABELS, OPEN_STATUSES, CaseStatus
from tests.factories import COMMUNE_AGENCY, COMMUNE_COMMITTEE, PASSWORD

API = "/open311/v2"
FORMATS = ["xml", "json"]
DESCRIPTION = "Tôi nộp hồ sơ xin giấy phép xây dựng từ tháng 8, đến nay đã quá hạn ba tuần."


# -- reading the two formats ------------------------------------------------------------------


def parse(response, fmt: str):
    """The body as the specification shows it: an ElementTree root for XML, JSON as it is."""
    body = response.get_data()
    if fmt == "xml":
        assert response.content_type == "text/xml; charset=utf-8"
        assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
        return ET.fromstring(body)  # noqa: S314 - the portal's own output
    assert response.content_type == "application/json; charset=utf-8"
    return json.loads(body)


def records(response, fmt: str, root: str, item: str) -> list[dict]:
    """A list resource (services, service_requests, errors) as dicts, from either format."""
    data = parse(response, fmt)
    if fmt == "json":
        assert isinstance(data, list)
        return data
    assert data.tag == root
    assert all(child.tag == item for child in data)
    return [{field.tag: field.text for field in child} for child in data]


def error_list(response, fmt: str) -> list[dict]:
    problems = records(response, fmt, "errors", "error")
    assert problems, "an error response lists at least one error"
    for problem in problems:
        assert set(problem) == {"code", "description"}
        assert int(problem["code"]) == response.status_code
    return problems


def requests_of(response, fmt: str) -> list[dict]:
    return records(response, fmt, "service_requests", "request")


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def api_key(session) -> str:
    _row, key = keys.issue(session, "Ứng dụng Hà Nội 311", None)
    session.commit()
    return key


def post(client, fmt: str, key: str | None, **fields):
    data = {"jurisdiction_id": "hanoi", "service_code": "slow_handling",
            "attribute[agency]": "SO-XD", "attribute[sector]": "construction",
            "description": DESCRIPTION, **fields}
    if key is not None:
        data["api_key"] = key
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(f"{API}/requests.{fmt}", data=data)
    response.get_data()
    response.close()  # as a server does once the response is sent: notifications go out
    return response


def at(session, case: Case, moment: datetime) -> Case:
    case.created_at = case.updated_at = moment
    session.commit()
    return case


# -- discovery and services -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_names_the_georeport_v2_endpoint_and_both_formats(client, fmt):
    response = client.get(f"{API}/discovery.{fmt}")
    assert response.status_code == 200
    data = parse(response, fmt)
    if fmt == "xml":
        assert data.tag == "discovery"
        assert [e.tag for e in data] == ["changeset", "contact", "key_service", "endpoints"]
        (endpoint,) = data.find("endpoints")
        assert endpoint.tag == "endpoint"
        found = {e.tag: e.text for e in endpoint if e.tag != "formats"}
        found["formats"] = [f.text for f in endpoint.find("formats")]
        assert all(f.tag == "format" for f in endpoint.find("formats"))
    else:
        assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
        (found,) = data["endpoints"]
    assert found["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert found["url"] == "http://portal.test/open311/v2"
    assert found["type"] in ("production", "test")
    assert found["formats"] == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_conduct_kinds(client, fmt):
    response = client.get(f"{API}/services.{fmt}?jurisdiction_id=hanoi")
    assert response.status_code == 200
    services = records(response, fmt, "services", "service")
    assert [s["service_code"] for s in services] == [str(c) for c in CONDUCT_LABELS]
    for service in services:
        assert list(service) == ["service_code", "service_name", "description", "metadata",
                                 "type", "keywords", "group"]
        assert str(service["metadata"]).lower() == "true" and service["type"] == "realtime"
        assert service["service_name"] and service["description"] and service["group"]
    by_code = {s["service_code"]: s for s in services}
    assert by_code["shirking"]["service_name"].startswith("Né tránh")  # Vietnamese first
    assert "đùn đẩy" in by_code["buck_passing"]["keywords"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_service_definition_lists_agencies_sectors_and_communes(client, session, fmt):
    response = client.get(f"{API}/services/buck_passing.{fmt}")
    assert response.status_code == 200
    data = parse(response, fmt)
    if fmt == "xml":
        assert data.tag == "service_definition"
        assert data.find("service_code").text == "buck_passing"
        assert [a.tag for a in data.find("attributes")] == ["attribute"] * 9
        attributes = []
        for element in data.find("attributes"):
            attribute = {e.tag: e.text for e in element if e.tag != "values"}
            assert all(v.tag == "value" and [f.tag for f in v] == ["key", "name"]
                       for v in element.find("values"))
            attribute["values"] = [{f.tag: f.text for f in v} for v in element.find("values")]
            attribute["required"] = attribute["required"] == "true"
            attribute["variable"] = attribute["variable"] == "true"
            attribute["order"] = int(attribute["order"])
            attributes.append(attribute)
    else:
        assert data["service_code"] == "buck_passing"
        attributes = data["attributes"]
    assert [a["code"] for a in attributes] == ["agency", "sector", "commune", "reporter_kind",
                                               "confidential", "publish", "occurred_on",
                                               "business_name", "tax_code"]
    for order, attribute in enumerate(attributes, 1):
        assert set(attribute) == {"variable", "code", "datatype", "required",
                                  "datatype_description", "order", "description", "values"}
        assert attribute["order"] == order and attribute["variable"] is True
        assert attribute["description"] and attribute["datatype_description"]
    by_code = {a["code"]: a for a in attributes}
    assert {c: a["required"] for c, a in by_code.items() if a["required"]} == {
        "agency": True, "sector": True}
    assert by_code["agency"]["datatype"] == "singlevaluelist"
    active = set(session.scalars(select(Agency.code).where(Agency.active.is_(True))))
    assert {v["key"] for v in by_code["agency"]["values"]} == active
    names = {v["key"]: v["name"] for v in by_code["agency"]["values"]}
    assert names["SO-XD"] == "Sở Xây dựng"
    assert len(by_code["commune"]["values"]) == len(hanoi_communes()) == 126
    assert {v["key"] for v in by_code["reporter_kind"]["values"]} == {
        "resident", "business", "organisation"}
    assert [v["key"] for v in by_code["confidential"]["values"]] == ["true", "false"]
    assert by_code["occurred_on"]["datatype"] == "datetime"
    assert by_code["sector"]["values"][0] == {"key": "land", "name": "Đất đai"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_and_jurisdiction_are_404_with_the_error_list(client, fmt):
    response = client.get(f"{API}/services/potholes.{fmt}")
    assert response.status_code == 404
    assert "potholes" in error_list(response, fmt)[0]["description"]
    response = client.get(f"{API}/services.{fmt}?jurisdiction_id=sfgov.org")
    assert response.status_code == 404
    assert "jurisdiction_id" in error_list(response, fmt)[0]["description"]
    assert client.get(f"{API}/services.{fmt}?jurisdiction_id=").status_code == 200
    response = client.get(f"{API}/nothing-here.{fmt}")
    assert response.status_code == 404
    error_list(response, fmt)
    response = client.delete(f"{API}/requests.{fmt}")
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST, HEAD"
    error_list(response, fmt)
    response = client.post(f"{API}/services.{fmt}")
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"


# -- POST a request ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("agency", "committee"), [("SO-XD", "MTTQ-HN"),
                                                   (COMMUNE_AGENCY, COMMUNE_COMMITTEE)])
def test_a_posted_request_enters_the_fronts_queue_like_a_web_report(
        app, client, auth, factory, session, mail_dir, api_key, fmt, agency, committee):
    response = post(client, fmt, api_key, **{
        "attribute[agency]": agency, "attribute[sector]": "land", "attribute[commune]": "70",
        "attribute[reporter_kind]": "business", "attribute[business_name]": "Công ty Ánh Dương",
        "attribute[tax_code]": "0101234567", "attribute[publish]": "true",
        "attribute[occurred_on]": "2026-10-05T09:30:00+07:00",
        "address_string": "12 Hàng Bài", "first_name": "Văn An", "last_name": "Nguyễn",
        "email": "an@example.org", "phone": "0912 345 678",
        "lat": "21.0285111", "long": "105.8542222", "device_id": "tt222111",
        "media_url": "http://example.org/x.jpg"})
    assert response.status_code == 200, response.get_data(as_text=True)
    (created,) = requests_of(response, fmt)
    assert list(created) == ["service_request_id", "service_notice", "account_id"]
    assert not created["account_id"]

    case = session.scalars(select(Case)).one()
    assert created["service_request_id"] == case.reference
    # Filed as the web form files it: same state, deadline, routing and reporter fields.
    assert case.status == CaseStatus.SUBMITTED and case.due_stage == "triage" and case.due_on
    assert case.agency.code == agency and case.front_committee.code == committee
    assert (case.conduct, case.sector, case.ward_code) == ("slow_handling", "land", 70)
    assert case.occurred_on.isoformat() == "2026-10-05"
    assert case.reporter_name == "Nguyễn Văn An"  # family name first, as Vietnamese writes it
    assert (case.reporter_kind, case.business_name, case.tax_code) == (
        "business", "Công ty Ánh Dương", "0101234567")
    assert case.publish_consent and not case.confidential
    assert session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)).all() \
        == ["submit"]
    # No location of the reporter is kept: the coordinates and the device are read by nothing.
    stored = " ".join(str(v) for v in session.execute(
        select(Case.__table__).where(Case.id == case.id)).one())
    assert "21.0285111" not in stored and "105.854" not in stored and "tt222111" not in stored

    # The receipt email carries the tracking code the response gave once; the key was used.
    code = created["service_notice"].split("Tracking code for the reporter: ")[1][:19]
    assert case.tracking_code_hash == hash_tracking_code(code)
    (message,) = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                  for p in mail_dir.glob("*.eml")]
    assert message["To"] == "an@example.org"
    assert code in message.get_body(("plain",)).get_content()
    assert session.scalars(select(OutboxMessage.status)).all() == ["sent"]
    assert session.scalars(select(ApiKey)).one().last_used_at is not None

    # The Front committee that supervises the agency finds it in its queue.
    moderator = factory.user("moderator", committee)
    session.commit()
    assert auth.login(moderator.email, PASSWORD).status_code == 303
    row = f'href="/moderation/cases/{case.id}">{case.reference}</a>'
    queue = client.get(f"/moderation/?q={case.reference}")
    assert queue.status_code == 200 and row in queue.get_data(as_text=True)
    if committee != "MTTQ-HN":
        other = next(c for c in session.scalars(select(FrontCommittee).where(
            FrontCommittee.ward_code.is_not(None), FrontCommittee.code != committee)))
        elsewhere = factory.user("moderator", other.code)
        session.commit()
        auth.logout()
        assert auth.login(elsewhere.email, PASSWORD).status_code == 303
        queue = client.get(f"/moderation/?q={case.reference}")
        assert queue.status_code == 200 and row not in queue.get_data(as_text=True)


def test_a_report_without_email_queues_no_receipt_and_a_confidential_one_keeps_it(
        client, session, api_key):
    assert post(client, "json", api_key).status_code == 200
    response = post(client, "json", api_key, **{"attribute[confidential]": "true",
                                                "phone": "0912345678"})
    assert response.status_code == 200
    first, second = session.scalars(select(Case).order_by(Case.id)).all()
    assert not first.confidential and first.reporter_kind == "resident"
    assert second.confidential and second.reporter_phone == "0912345678"
    assert count(session, OutboxMessage) == 0
    assert "A receipt" not in requests_of(response, "json")[0]["service_notice"]


BAD_POSTS = [
    # (what, key: "good" / "none" / "unknown" / "revoked", fields, status, words in the error)
    ("no api_key", "none", {}, 403, "api_key"),
    ("an unknown api_key", "unknown", {}, 403, "Invalid api_key"),
    ("a revoked api_key", "revoked", {}, 403, "Invalid api_key"),
    ("another jurisdiction", "good", {"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
    ("no service_code", "good", {"service_code": ""}, 400, "service_code"),
    ("an unknown service_code", "good", {"service_code": "potholes"}, 404, "potholes"),
    ("no agency", "good", {"attribute[agency]": None}, 400, "attribute[agency]"),
    ("an unknown agency", "good", {"attribute[agency]": "SO-ZZ"}, 400, "SO-ZZ"),
    ("no sector", "good", {"attribute[sector]": None}, 400, "attribute[sector]"),
    ("an unknown sector", "good", {"attribute[sector]": "weather"}, 400, "attribute[sector]"),
    ("no description", "good", {"description": None}, 400, "description"),
    ("a short description", "good", {"description": "Quá hạn."}, 400, "description"),
    ("too long a description", "good", {"description": "x" * 5001}, 400, "5000"),
    ("markup", "good", {"description": DESCRIPTION + " <script>alert(1)</script>"}, 400,
     "plain text"),
    ("markup in the address", "good", {"address_string": "<b>12 Hàng Bài</b>"}, 400,
     "address_string"),
    ("too long an address", "good", {"address_string": "y" * 301}, 400, "address_string"),
    ("a bad email", "good", {"email": "not-an-email"}, 400, "email"),
    ("an unknown commune", "good", {"attribute[commune]": "99999"}, 400, "attribute[commune]"),
    ("a bad date", "good", {"attribute[occurred_on]": "yesterday"}, 400, "occurred_on"),
    ("a future date", "good", {"attribute[occurred_on]": "2999-01-01"}, 400, "occurred_on"),
    ("a flag that is not true/false", "good", {"attribute[publish]": "maybe"}, 400,
     "attribute[publish]"),
    ("confidential with no identity", "good", {"attribute[confidential]": "true"}, 400,
     "attribute[confidential]"),
    # In Hanoi time these fall before year 1 or after year 9999.
    ("a date before year 1", "good", {"attribute[occurred_on]": "0001-01-01T00:00:00+07:00"},
     400, "attribute[occurred_on]: '0001-01-01T00:00:00+07:00' is out of range"),
    ("a date after year 9999", "good", {"attribute[occurred_on]": "9999-12-31T23:00:00-07:00"},
     400, "attribute[occurred_on]: '9999-12-31T23:00:00-07:00' is out of range"),
    # PostgreSQL refuses NUL in a text: the code must not reach the database.
    ("a control character in the agency", "good", {"attribute[agency]": "SO\x00XD"}, 400,
     "is not the code of an active agency"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("what", "which", "fields", "status", "words"), BAD_POSTS,
                         ids=[b[0] for b in BAD_POSTS])
def test_a_refused_request_gets_the_error_list_and_stores_nothing(
        client, session, api_key, fmt, what, which, fields, status, words):
    key = {"good": api_key, "none": None, "unknown": "hn311_" + "x" * 43}.get(which, api_key)
    if which == "revoked":
        keys.revoke(session, session.scalars(select(ApiKey)).one())
        session.commit()
    response = post(client, fmt, key, **fields)
    assert response.status_code == status, response.get_data(as_text=True)
    descriptions = " | ".join(p["description"] for p in error_list(response, fmt))
    assert words in descriptions
    assert count(session, Case) == 0 and count(session, OutboxMessage) == 0
    assert session.scalars(select(ApiKey)).one().last_used_at is None


def test_every_problem_is_named_at_once(client, session, api_key):
    response = post(client, "json", api_key, **{"attribute[agency]": None,
                                               "attribute[sector]": "weather",
                                               "description": "<i>ngắn</i>"})
    assert response.status_code == 400
    named = [p["description"].split(":")[0] for p in error_list(response, "json")]
    assert named[0] == "attribute[agency] was not provided"
    assert {"attribute[sector]", "description"} <= set(named)


# -- GET requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_show_status_and_deadlines_but_no_identity(client, factory, session, fmt):
    now = utcnow()
    waiting = at(session, factory.report()[0], now - timedelta(days=3))
    forwarded = at(session, factory.case_in(CaseStatus.IN_PROGRESS, conduct="buck_passing"),
                   now - timedelta(days=2))
    rejected = at(session, factory.case_in(CaseStatus.REJECTED), now - timedelta(days=1))
    response = client.get(f"{API}/requests.{fmt}")
    assert response.status_code == 200
    listed = requests_of(response, fmt)
    assert [r["service_request_id"] for r in listed] == [
        rejected.reference, forwarded.reference, waiting.reference]  # newest first
    by_id = {r["service_request_id"]: r for r in listed}
    first = by_id[waiting.reference]
    assert list(first) == ["service_request_id", "status", "status_notes", "service_name",
                           "service_code", "description", "agency_responsible",
                           "service_notice", "requested_datetime", "updated_datetime",
                           "expected_datetime", "address", "address_id", "zipcode", "lat",
                           "long", "media_url"]
    for field in ("address_id", "zipcode", "lat", "long", "media_url"):
        assert first[field] is None  # empty, as in the specification's examples
    assert first["status"] == "open" and first["service_code"] == "slow_handling"
    assert first["status_notes"] == "Đã tiếp nhận, chờ Ủy ban MTTQ xem xét"
    # Before the Front accepts the report, the Front holds it; the agency is not named.
    assert first["agency_responsible"] == "Ủy ban MTTQ Việt Nam Thành phố Hà Nội"
    assert first["expected_datetime"] == f"{waiting.due_on.isoformat()}T23:59:59+07:00"
    assert first["requested_datetime"] \
        == f"{hanoi_date(waiting.created_at).isoformat()}T00:00:00+07:00"  # the day only
    assert not first["description"] and not first["address"]
    second = by_id[forwarded.reference]
    assert second["agency_responsible"] == "Sở Xây dựng" and second["status"] == "open"
    assert second["service_code"] == "buck_passing"
    third = by_id[rejected.reference]
    assert third["status"] == "closed" and not third["expected_datetime"]
    assert third["status_notes"] == "Không tiếp nhận: Không đủ thông tin để xem xét, giải quyết"
    text = response.get_data(as_text=True)
    for secret in ("Nguyễn Văn An", "an@example.org", "quá hạn ba tuần"):
        assert secret not in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_filters(client, factory, session, fmt):
    now = utcnow()
    old = at(session, factory.report(conduct="overlap")[0], now - timedelta(days=40))
    recent = at(session, factory.report(conduct="shirking")[0], now - timedelta(days=5))
    closed = at(session, factory.case_in(CaseStatus.CLOSED), now - timedelta(days=4))

    def ids(query: str) -> list[str]:
        response = client.get(f"{API}/requests.{fmt}?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [r["service_request_id"] for r in requests_of(response, fmt)]

    assert ids("") == [closed.reference, recent.reference, old.reference]
    assert ids("status=open") == [recent.reference, old.reference]
    assert ids("status=closed") == [closed.reference]
    assert ids("status=open,closed") == [closed.reference, recent.reference, old.reference]
    assert ids("service_code=shirking,overlap") == [recent.reference, old.reference]
    assert ids("service_code=shirking&service_code=overlap") == [recent.reference, old.reference]
    start = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=4, hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"start_date={start}") == [closed.reference, recent.reference]
    assert ids(f"start_date={start}&end_date={end}") == [recent.reference]
    assert ids(f"end_date={end}") == [recent.reference, old.reference]
    hanoi = (now - timedelta(days=41) + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S")
    assert ids(f"start_date={hanoi}%2B07:00&service_code=overlap&jurisdiction_id=hanoi") \
        == [old.reference]
    assert ids(f"start_date={hanoi}+07:00&service_code=overlap") == [old.reference]  # unencoded
    # A list of ids overrides every other argument, and an unknown id is just not there.
    assert ids(f"service_request_id={old.reference},{closed.reference},PA20-0999999"
               f"&status=open&service_code=other") == [closed.reference, old.reference]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("query", "words"), [
    ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
    ("start_date=2026-06-01T00:00:00Z&end_date=2026-05-01T00:00:00Z", "after"),
    ("start_date=last+week", "start_date"),
    ("end_date=2026-06-01T00:00:00", "end_date"),  # no time zone
    ("status=pending", "status"),
    ("service_code=potholes", "potholes"),
    ("jurisdiction_id=sfgov.org", "jurisdiction_id"),
])
def test_bad_filters_are_refused(client, fmt, query, words):
    response = client.get(f"{API}/requests.{fmt}?{query}")
    assert response.status_code == (404 if "jurisdiction" in query else 400)
    assert words in " ".join(p["description"] for p in error_list(response, fmt))


def test_at_most_1000_requests_of_the_last_90_days_newest_first(client, factory, session):
    now = utcnow()
    template, _ = factory.report()
    base = {column: getattr(template, column) for column in (
        "status", "agency_id", "front_committee_id", "conduct", "sector", "description",
        "reporter_kind")}
    session.execute(insert(Case), [
        {**base, "tracking_code_hash": f"{i:064d}", "created_at": now - timedelta(minutes=i),
         "updated_at": now - timedelta(minutes=i)} for i in range(1, 1006)])
    session.flush()
    at(session, template, now - timedelta(days=100))
    response = client.get(f"{API}/requests.json")
    listed = requests_of(response, "json")
    assert len(listed) == 1000
    times = [r["requested_datetime"] for r in listed]
    assert times == sorted(times, reverse=True)
    newest = session.scalars(select(Case).order_by(Case.created_at.desc()).limit(1)).one()
    assert listed[0]["service_request_id"] == newest.reference
    assert template.reference not in {r["service_request_id"] for r in listed}
    # The old case is found by asking for its own 90 days.
    start = (now - timedelta(days=101)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=99)).strftime("%Y-%m-%dT%H:%M:%SZ")
    older = requests_of(client.get(f"{API}/requests.xml?start_date={start}&end_date={end}"),
                        "xml")
    assert [r["service_request_id"] for r in older] == [template.reference]


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request_and_its_token(client, factory, session, fmt):
    case, _ = factory.report()
    session.commit()
    response = client.get(f"{API}/requests/{case.reference}.{fmt}?jurisdiction_id=hanoi")
    assert response.status_code == 200
    (found,) = requests_of(response, fmt)
    assert found["service_request_id"] == case.reference and found["status"] == "open"
    assert found["service_name"] == "Chậm trễ, quá hạn giải quyết"

    response = client.get(f"{API}/tokens/{case.reference}.{fmt}")
    assert response.status_code == 200
    assert requests_of(response, fmt) == [{"service_request_id": case.reference,
                                           "token": case.reference}]
    for missing in ("PA26-9999999", "PA19-" + case.reference.split("-")[1], "123", "x" * 300):
        for resource in ("requests", "tokens"):
            response = client.get(f"{API}/{resource}/{missing}.{fmt}")
            assert response.status_code == 404, (resource, missing)
            error_list(response, fmt)


# -- what a request shows of its times and deadline -------------------------------------------


def _day(moment: datetime) -> str:
    return f"{hanoi_date(moment).isoformat()}T00:00:00+07:00"


def test_times_are_days_and_updates_are_changes_of_state_in_one_query(app, client, factory,
                                                                      session):
    """Open data gives no exact times, and the Front's internal work is not an update."""
    now = utcnow()
    submitted = (now - timedelta(days=10)).replace(hour=8, minute=37, second=12)
    forwarded_at = (now - timedelta(days=9)).replace(hour=17, minute=30)  # 00:30 the next day
    internal_at = now - timedelta(days=1)
    front = Actor.staff(factory.moderator())

    moved = factory.case_in(CaseStatus.FORWARDED, confidential=True, reporter_phone="0912345678")
    waiting, _ = factory.report()
    untouched, _ = factory.report()
    session.flush()
    for case in (moved, waiting, untouched):
        case.created_at = submitted
        for step in case.events:
            step.created_at = submitted if step.action == "submit" else forwarded_at
    # The Front's own work afterwards: none of it changes the state.
    from portal import lifecycle

    for case in (moved, waiting):
        internal = [lifecycle.note(session, case, front, text="Gọi lại cho người phản ánh."),
                    lifecycle.claim(session, case, front)]
        if case is moved:
            internal.append(lifecycle.view_identity(session, case, front))
        internal.append(lifecycle.redact(session, case, front, redacted_text=case.description))
        session.flush()
        for step in internal:
            step.created_at = internal_at
        case.updated_at = internal_at
    session.commit()
    actions = session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == moved.id))
    assert set(actions) >= {"note", "claim", "view_identity", "redact"}

    statements: list[str] = []

    def remember(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", remember)
    try:
        response = client.get(f"{API}/requests.json")
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    by_id = {r["service_request_id"]: r for r in requests_of(response, "json")}
    assert len(by_id) == 3
    for case in (moved, waiting, untouched):
        assert by_id[case.reference]["requested_datetime"] == _day(submitted)
    assert by_id[moved.reference]["updated_datetime"] == _day(forwarded_at) \
        == f"{(forwarded_at + timedelta(days=1)).date().isoformat()}T00:00:00+07:00"
    assert by_id[waiting.reference]["updated_datetime"] == _day(submitted)
    assert by_id[untouched.reference]["updated_datetime"] == _day(submitted)
    # One query for the whole page, not one a case.
    assert len([s for s in statements if "case_events" in s]) == 1

    for fmt in FORMATS:
        (one,) = requests_of(client.get(f"{API}/requests/{moved.reference}.{fmt}"), fmt)
        assert one["requested_datetime"] == _day(submitted)
        assert one["updated_datetime"] == _day(forwarded_at)
        text = client.get(f"{API}/requests.{fmt}").get_data(as_text=True)
        assert ":37:12" not in text and "T15:37" not in text and "T00:30" not in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", [CaseStatus.RESOLVED, CaseStatus.CLOSED])
def test_no_expected_datetime_once_the_answer_is_accepted(client, factory, session, fmt, status):
    case = factory.case_in(status)
    session.commit()
    if status == CaseStatus.RESOLVED:
        assert case.due_on is not None  # the reporter's rating window: not the agency's deadline
    response = client.get(f"{API}/requests/{case.reference}.{fmt}")
    (shown,) = requests_of(response, fmt)
    assert shown["expected_datetime"] is None
    if fmt == "xml":  # the spec's optional elements are there, empty
        (request_element,) = parse(response, fmt)
        for name in ("expected_datetime", "address_id", "zipcode", "lat", "long", "media_url"):
            element = request_element.find(name)
            assert element is not None and element.text is None, name


# -- what a client sends that no server should choke on ---------------------------------------


@pytest.mark.parametrize(("path", "shown"), [
    ("requests/%00.xml", "service_request_id '' was not found."),
    ("requests/a%01%08%0B%0C%1Fb%EF%BF%BE%EF%BF%BF.xml", "service_request_id 'ab' was not found."),
    ("services/a%01b.xml", "service_code 'ab' was not found."),
    ("tokens/%1B%5B31m.xml", "token '[31m' was not found."),
    ("requests.xml?start_date=%07", "start_date: '' is not a W3C date"),
])
def test_control_characters_are_left_out_of_xml(client, path, shown):
    response = client.get(f"{API}/{path}")
    assert response.status_code in (400, 404)
    (problem,) = error_list(response, "xml")  # well-formed: it parses
    assert problem["description"].startswith(shown)


def test_xml_keeps_every_character_xml_allows():
    from portal.open311 import serialise

    allowed = "tab\tnew\nreturn\r é Hà Nội \U0001F600 \ufffd \ud7ff \ue000"
    body = serialise.to_xml("errors", [{"code": 400, "description":
                                        "\x00\x01\x1f\ud800\udfff\ufffe\uffff" + allowed}])
    (error,) = ET.fromstring(body)  # noqa: S314 - the portal's own output
    # An XML parser reads a carriage return as a line feed.
    assert error.find("description").text == allowed.replace("\r", "\n")
    # JSON escapes what it must, and keeps the text as it is.
    assert json.loads(serialise.to_json({"d": "a\x01b"})) == {"d": "a\x01b"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("query", "named"), [
    ("start_date=0001-01-01", "start_date"),  # a Hanoi day: before year 1 in UTC
    ("start_date=0001-01-01T00:00:00%2B07:00", "start_date"),
    ("start_date=9999-12-31T23:00:00-07:00", "start_date"),  # after year 9999 in UTC
    ("start_date=9999-12-31", "start_date"),  # the 90 days after it
    ("end_date=0001-01-02T00:00:00Z", "end_date"),  # the 90 days before it
    ("start_date=2026-01-01T00:00:00Z&end_date=9999-12-31T23:00:00-07:00", "end_date"),
])
def test_dates_out_of_range_are_a_bad_request_not_a_server_error(client, caplog, fmt, query,
                                                                 named):
    with caplog.at_level("INFO"):
        response = client.get(f"{API}/requests.{fmt}?{query}")
    assert response.status_code == 400
    (problem,) = error_list(response, fmt)
    assert problem["description"].startswith(f"{named}: ")
    assert "out of range" in problem["description"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]


def test_the_first_and_last_days_that_can_be_searched(client):
    for query in ("start_date=0001-01-01T00:00:00Z", "end_date=9999-12-31"):
        response = client.get(f"{API}/requests.json?{query}")
        assert response.status_code == 200 and requests_of(response, "json") == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("failure", "status", "level"), [
    (RuntimeError("a bug"), 500, "ERROR"),
    (KeyError("a bug"), 500, "ERROR"),
    (OverflowError("date value out of range"), 400, "WARNING"),
    (DataError("SELECT", {"code": "SO\x00XD"}, Exception("NUL")), 400, "WARNING"),
])
def test_the_catch_all_logs_bugs_loudly_and_bad_values_quietly(
        client, caplog, monkeypatch, fmt, failure, status, level):
    from portal.open311 import services

    def fail(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(services, "service_list", fail)
    with caplog.at_level("INFO"):
        response = client.get(f"{API}/services.{fmt}")
    assert response.status_code == status
    (problem,) = error_list(response, fmt)
    assert problem["description"].startswith("General service error")
    (record,) = [r for r in caplog.records if r.name == "portal.open311.views"]
    assert record.levelname == level
    if status == 500:  # a bug: its stack trace, to be fixed
        assert record.exc_info and record.exc_info[1] is failure
    else:  # anyone can send it: one line, and nothing of the values
        assert not record.exc_info and "SO" not in record.getMessage()
        assert type(failure).__name__ in record.getMessage()


# -- the reporter's identity and unpublished text ---------------------------------------------

NAME_GIVEN, NAME_FAMILY = "Zzsentinel Bí", "Hoàngmật"
PHONE = "0987 654 321"
EMAIL = "zz.sentinel.secret@example.org"
TEXT = "Zzunpublished văn bản gốc"
PLACE = "Số 5 ngõ Zzbímật"
SENTINELS = ("Zzsentinel", "Hoàngmật", PHONE, "0987654321", EMAIL, "zz.sentinel", "Zzunpublished",
             "Zzbímật")


def test_a_confidential_reporter_and_unpublished_text_appear_in_no_response(
        client, factory, session, api_key):
    response = post(client, "xml", api_key, **{
        "attribute[confidential]": "true", "attribute[publish]": "true",
        "attribute[commune]": "70", "first_name": NAME_GIVEN, "last_name": NAME_FAMILY,
        "email": EMAIL, "phone": PHONE, "address_string": PLACE,
        "description": f"{TEXT}: hồ sơ cấp phép xây dựng của tôi đã quá hạn ba tuần."})
    assert response.status_code == 200
    case = session.scalars(select(Case)).one()
    assert case.confidential and case.reporter_email == EMAIL

    def read_everything() -> str:
        texts = []
        for fmt in FORMATS:
            for path in (f"requests.{fmt}", f"requests.{fmt}?status=open",
                         f"requests.{fmt}?service_request_id={case.reference}",
                         f"requests/{case.reference}.{fmt}", f"tokens/{case.reference}.{fmt}"):
                got = client.get(f"{API}/{path}")
                assert got.status_code == 200, path
                assert case.reference in got.get_data(as_text=True)
                texts.append(html.unescape(got.get_data(as_text=True)))
        return "\n".join(texts)

    def assert_clean(text: str) -> None:
        for sentinel in SENTINELS:
            assert sentinel.lower() not in text.lower(), f"{sentinel!r} leaked"

    assert_clean(read_everything())

    # Forwarded, answered and accepted: still unpublished until the Front reviewed the text.
    reviewed = "Người phản ánh cho biết hồ sơ cấp phép xây dựng đã quá hạn ba tuần."
    factory.redact(case, reviewed)
    for action in ("forward", "acknowledge", "answer", "accept_answer"):
        factory.step(case, action)
    session.commit()
    assert case.published_at is not None
    everything = read_everything()
    assert_clean(everything)
    (shown,) = requests_of(client.get(f"{API}/requests/{case.reference}.json"), "json")
    assert shown["description"] == reviewed  # the Front-reviewed text, once published
    assert shown["address"] == "Phường Hoàn Kiếm, Hà Nội"  # the commune, never the free text
    assert reviewed in everything


def test_unpublished_and_unconsented_text_stays_hidden(client, factory, session):
    hidden = factory.case_in(CaseStatus.RESOLVED, description=f"{TEXT} quá hạn ba tuần rồi.",
                             publish_consent=False)
    factory.redact(hidden, "Văn bản đã được Ủy ban MTTQ xem xét.")
    session.commit()
    assert hidden.published_at is None and hidden.status in OPEN_STATUSES
    for fmt in FORMATS:
        text = client.get(f"{API}/requests/{hidden.reference}.{fmt}").get_data(as_text=True)
        assert "Zzunpublished" not in text and "xem xét." not in text


# -- the administrators' keys -----------------------------------------------------------------


def test_administrators_issue_list_and_revoke_keys(client, auth, factory, session):
    admin = factory.user("admin")
    session.commit()
    client.get("/lang/en")
    assert auth.login(admin.email, PASSWORD).status_code == 303
    page = client.get("/admin/apikeys").get_data(as_text=True)
    assert "Open311 API keys" in page and "No key has been issued yet." in page
    assert "/admin/apikeys" in client.get("/admin/").get_data(as_text=True)

    created = auth.post("/admin/apikeys", {"name": "CivicApp Hà Nội"}, page="/admin/apikeys")
    assert created.status_code == 201
    shown = html.unescape(created.get_data(as_text=True))
    key = shown.split('<code id="new-api-key">')[1].split("</code>")[0]
    assert key.startswith("hn311_") and len(key) > 40
    row = session.scalars(select(ApiKey)).one()
    assert row.key_hash == keys.hash_key(key) and row.prefix == key[:12]
    assert row.created_by_id == admin.id and row.name == "CivicApp Hà Nội"
    assert key not in " ".join(str(v) for v in session.execute(select(ApiKey.__table__)).one())

    listing = html.unescape(client.get("/admin/apikeys").get_data(as_text=True))
    assert key not in listing  # shown once
    assert row.prefix in listing and "CivicApp Hà Nội" in listing and "<td>not used yet</td>" in listing

    assert post(client, "json", key).status_code == 200
    listing = html.unescape(client.get("/admin/apikeys").get_data(as_text=True))
    assert "<td>not used yet</td>" not in listing

    revoked = auth.post(f"/admin/apikeys/{row.id}/revoke", page="/admin/apikeys")
    assert revoked.status_code == 303
    assert "was revoked" in html.unescape(client.get("/admin/apikeys").get_data(as_text=True))
    session.expire_all()
    assert session.get(ApiKey, row.id).revoked_at is not None
    assert post(client, "json", key).status_code == 403
    assert count(session, Case) == 1

    refused = auth.post("/admin/apikeys", {"name": "<b>x</b>"}, page="/admin/apikeys")
    assert refused.status_code == 400 and count(session, ApiKey) == 1


@pytest.mark.parametrize("role", ["supervisor", "moderator", "agency_head"])
def test_only_administrators_see_keys(client, auth, factory, session, role):
    assert client.get("/admin/apikeys").status_code == 302  # anonymous: sign in first
    org = {"supervisor": "MTTQ-HN", "moderator": "MTTQ-HN", "agency_head": "SO-XD"}[role]
    user = factory.user(role, org)
    session.commit()
    assert auth.login(user.email, PASSWORD).status_code == 303
    assert client.get("/admin/apikeys").status_code == 403
    assert auth.post("/admin/apikeys", {"name": "x"}).status_code == 403
    assert count(session, ApiKey) == 0


def test_the_front_sees_an_api_report_like_any_other(factory, session, client, api_key):
    """The case a client posted goes through the same lifecycle as a web report."""
    assert post(client, "json", api_key, **{"attribute[agency]": COMMUNE_AGENCY}).status_code \
        == 200
    case = session.scalars(select(Case)).one()
    front = Actor.staff(factory.user("moderator", COMMUNE_COMMITTEE))
    from portal import lifecycle

    assert lifecycle.allowed(case, front, "forward")
    lifecycle.forward(session, case, front, agency_id=case.agency_id, recommendation="Xem xét.")
    session.commit()
    (shown,) = requests_of(client.get(f"{API}/requests/{case.reference}.xml"), "xml")
    assert shown["agency_responsible"].startswith("UBND Phường Hoàn Kiếm")
