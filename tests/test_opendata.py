"""Open data: no personal data and no free text in any download, and documented fields.

The sentinel test fills every personal and free-text field of several cases (the reporter's
identity, the business, the address, every text the reporter, the agency and the Front wrote,
the names and emails of staff) with values that cannot occur by chance, then reads every
download in both formats and finds none of them. Its one rating, a 1, changed to a 5 changes
no download and no public page: a single rating cannot be read anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal import lifecycle, stats
from portal.accounts import create_user
from portal.db import utcnow
from portal.deadlines import hanoi_date
from portal.lifecycle import Actor
from portal.models import Agency, Attachment, Case, Rating
from portal.opendata import datasets
from portal.stats import Period, PeriodError, parse_period
from portal.vocab import Outcome, RejectReason
from tests.factories import PASSWORD

TOKEN = "Zzsentinel"
NAME = f"{TOKEN} Hoàng Bí Mật"
EMAIL = "zz.sentinel.reporter@example.org"
PHONE = "0987 654 321"
BUSINESS = f"Công ty {TOKEN} Bí Mật"
TAX_CODE = "8765432109"
ADDRESS = f"Số 77 ngõ {TOKEN}"
OCCURRED = date(2019, 3, 17)
SENTINELS = (TOKEN, "zzsentinel", "Bí Mật", EMAIL, "zz.sentinel", PHONE, "0987654321",
             "654 321", TAX_CODE, "77 ngõ", "2019-03-17", "17/03/2019")
FILES = ("cases.csv", "cases.json", "scoreboard.csv", "scoreboard.json")


def text(label: str) -> str:
    """A free text as staff or reporters write it, marked with the sentinel."""
    return f"{label}: {TOKEN} {NAME}, {PHONE}, {EMAIL}. Nội dung đủ dài để hợp lệ."


def staff(session, role: str, org: str, label: str):
    return create_user(session, f"zz.sentinel.{label}@example.org", role, PASSWORD, org,
                       name=f"{TOKEN} {label} Bí Mật")


def sentinel_cases(factory, session) -> list[Case]:
    front = Actor.staff(staff(session, "moderator", "MTTQ-HN", "moderator"))
    head = Actor.staff(staff(session, "agency_head", "SO-XD", "head"))
    officer_user = staff(session, "agency_officer", "SO-XD", "officer")
    officer = Actor.staff(officer_user)
    identity = dict(reporter_name=NAME, reporter_email=EMAIL, reporter_phone=PHONE,
                    address=ADDRESS, occurred_on=OCCURRED, description=text("description"),
                    ward_code=70)
    so_xd = factory.agency("SO-XD").id

    # Published, rated and closed, having been through every text an answer carries.
    closed, _ = factory.report("SO-XD", publish_consent=True, **identity)
    lifecycle.redact(session, closed, front, redacted_text=text("redacted"))
    lifecycle.note(session, closed, front, text=text("note"))
    lifecycle.forward(session, closed, front, agency_id=so_xd,
                      recommendation=text("recommendation"))
    lifecycle.acknowledge(session, closed, head)
    lifecycle.assign_officer(session, closed, head, officer_id=officer_user.id)
    lifecycle.request_extension(session, closed, officer, working_days=3,
                                reason=text("extension"))
    lifecycle.answer(session, closed, officer, findings=text("findings"),
                     actions_taken=text("actions"), reply_to_recommendation=text("reply"),
                     outcome=Outcome.PARTLY)
    lifecycle.accept_answer(session, closed, front, assessment=text("assessment"))
    lifecycle.rate(session, closed, Actor.reporter(closed.id),
                   scores=dict.fromkeys(lifecycle.RATING_FACTORS, 1), comment=text("comment"))
    assert closed.published_at is not None

    # A confidential business, asked for information, whose transfer request was refused and
    # whose answer the Front returned.
    business, _ = factory.report("SO-XD", reporter_kind="business", business_name=BUSINESS,
                                 tax_code=TAX_CODE, confidential=True, **identity)
    lifecycle.ask_info(session, business, front, question=text("question"))
    lifecycle.provide_info(session, business, Actor.reporter(business.id), reply=text("info"))
    lifecycle.redact(session, business, front, redacted_text=text("redacted business"))
    lifecycle.forward(session, business, front, agency_id=so_xd,
                      recommendation=text("recommendation"))
    lifecycle.request_transfer(session, business, officer,
                               to_agency_id=factory.agency("SO-YT").id, reason=text("transfer"))
    lifecycle.refuse_transfer(session, business, front, note=text("refusal"))
    lifecycle.answer(session, business, officer, findings=text("findings"),
                     outcome=Outcome.NOT_SUBSTANTIATED)
    lifecycle.return_answer(session, business, front, reason=text("return"))

    # Disputed after the answer was accepted.
    disputed, _ = factory.report("SO-XD", publish_consent=True, **identity)
    lifecycle.redact(session, disputed, front, redacted_text=text("redacted"))
    lifecycle.forward(session, disputed, front, agency_id=so_xd,
                      recommendation=text("recommendation"))
    lifecycle.acknowledge(session, disputed, officer)
    lifecycle.answer(session, disputed, officer, findings=text("findings"),
                     outcome=Outcome.SUBSTANTIATED)
    lifecycle.accept_answer(session, disputed, front, assessment=text("assessment"))
    lifecycle.dispute(session, disputed, Actor.reporter(disputed.id), reason=text("dispute"))

    # Evidence whose file name names the reporter.
    session.add(Attachment(case_id=closed.id, stored_name="zz" * 16, original_name=f"{NAME}.jpg",
                           content_type="image/jpeg", size=10, sha256="0" * 64,
                           uploaded_by="reporter"))

    # Rejected with a note, and one just received.
    rejected, _ = factory.report("SO-XD", **identity)
    lifecycle.reject(session, rejected, front, reason=RejectReason.OTHER, note=text("reject"))
    received, _ = factory.report("SO-XD", **identity)
    session.commit()
    return [closed, business, disputed, rejected, received]


def download(client, name: str, **query) -> str:
    response = client.get(f"/open-data/{name}", query_string=query)
    assert response.status_code == 200, (name, response.status_code)
    assert response.mimetype == ("text/csv" if name.endswith(".csv") else "application/json")
    assert "attachment" in response.headers["Content-Disposition"]
    return response.get_data(as_text=True)


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


def refresh_stats(session) -> None:
    """Bring the scoreboard's aggregates up to date, as the stats-refresh job does."""
    stats.refresh(session, all=True)


def public_views(client, closed: Case) -> dict[str, str]:
    """Every download, and every public page that shows figures or the case."""
    month = f"{hanoi_date(closed.created_at):%Y-%m}"
    views = {name: download(client, name) for name in FILES}
    views.update({f"{name} {month}": download(client, name, **{"from": month, "to": month})
                  for name in FILES})
    for path in ("/agencies", f"/agencies?from={month}&to={month}", "/agencies/SO-XD",
                 f"/agencies/SO-XD?from={month}&to={month}", "/agencies?sector=construction",
                 "/answers", f"/answers/{closed.reference}", "/open-data"):
        response = client.get(path)
        assert response.status_code == 200, path
        views[path] = response.get_data(as_text=True)
    return views


def test_no_personal_data_or_free_text_in_any_download(client, factory, session, monkeypatch):
    monkeypatch.setattr(stats, "utcnow", lambda: datetime(2026, 1, 2, 3, 4))  # the snapshots'
    cases = sentinel_cases(factory, session)
    refresh_stats(session)
    bodies = {name: download(client, name) for name in FILES}
    for name, body in bodies.items():
        for sentinel in SENTINELS:
            assert sentinel.lower() not in body.lower(), f"{sentinel!r} is in {name}"
        # No exact date or time either: months only.
        assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}", body), name

    # And the cases are there: the test reads real rows, not empty files.
    rows = {row["reference"]: row for row in csv_rows(bodies["cases.csv"])}
    assert set(rows) == {case.reference for case in cases}
    assert {r["reference"] for r in json.loads(bodies["cases.json"])} == set(rows)
    closed, business, disputed, rejected, received = cases
    assert rows[closed.reference]["status"] == "closed"
    assert rows[closed.reference]["published"] == "yes"
    assert "rating_overall" not in rows[closed.reference]
    assert rows[closed.reference]["outcome"] == "partly"
    assert rows[business.reference]["transfer_requests"] == "1"
    assert rows[business.reference]["transfers"] == "0"
    assert rows[business.reference]["outcome"] == ""  # the answer was returned
    assert rows[disputed.reference]["published"] == "yes"
    assert rows[rejected.reference]["forwarded_on_time"] == ""
    # Not forwarded: no agency, not even the one reported.
    for case in (rejected, received):
        assert [rows[case.reference][f] for f in ("agency_code", "agency_name", "agency_kind",
                                                  "reported_agency_code")] == [""] * 4
    assert rows[closed.reference]["agency_code"] == "SO-XD"
    assert rows[closed.reference]["reported_agency_code"] == "SO-XD"
    assert rows[received.reference]["month_received"] == f"{hanoi_date(received.created_at):%Y-%m}"

    board = {row["agency_code"]: row for row in csv_rows(bodies["scoreboard.csv"])}
    assert board["SO-XD"]["received"] == "3"
    assert board["SO-XD"]["answered"] == "3"
    assert board["SO-XD"]["transfers_refused"] == "1"
    assert board["SO-XD"]["ratings"] == "1"
    # One rating: too few to tell, and that rating is hidden in the count of the satisfied.
    assert [board["SO-XD"][f] for f in ("satisfied", "satisfaction_percent", "satisfaction_low",
                                        "satisfaction_high")] == [""] * 4
    json_board = {row["agency_code"]: row for row in json.loads(bodies["scoreboard.json"])}
    assert json_board["SO-XD"]["answers_returned"] == 1
    assert json_board["SO-XD"]["satisfied"] is None
    assert json_board["SO-XD"]["rank"] is None  # 3 answers: too few to rank
    assert json_board["SO-XD"]["sector"] is None

    # The rating of 1 cannot be read anywhere: were it a 5, nothing public would change.
    before = public_views(client, closed)
    session.execute(update(Rating).where(Rating.case_id == closed.id)
                    .values(**dict.fromkeys(lifecycle.RATING_FACTORS, 5)))
    session.commit()
    refresh_stats(session)
    after = public_views(client, closed)
    assert session.scalar(select(Rating.overall).where(Rating.case_id == closed.id)) == 5
    for name, body in before.items():
        assert body == after[name], f"the rating shows in {name}"


def test_no_agency_is_published_for_a_case_the_front_has_not_forwarded(client, factory,
                                                                        session):
    reported = "SO-YT"
    agency = factory.agency(reported)
    waiting = {status: factory.case_in(status, reported)
               for status in ("submitted", "needs_info", "rejected", "merged")}
    forwarded = factory.case_in("forwarded", reported)
    transferred = factory.case_in("forwarded", reported)
    factory.step(transferred, "acknowledge", reported)
    factory.step(transferred, "request_transfer", reported)
    lifecycle.approve_transfer(session, transferred, Actor.staff(factory.moderator()))
    session.commit()
    target = session.get(Agency, transferred.assigned_agency_id)
    fields = ("agency_code", "agency_name", "agency_kind", "reported_agency_code")

    body = download(client, "cases.csv")
    rows = {row["reference"]: row for row in csv_rows(body)}
    for status, case in waiting.items():
        assert [rows[case.reference][f] for f in fields] == [""] * 4, status
    assert [rows[forwarded.reference][f] for f in fields] == [
        reported, agency.name, agency.kind, reported]
    assert [rows[transferred.reference][f] for f in fields] == [
        target.code, target.name, target.kind, reported]
    # The merge's main case, never forwarded either, is blank too: the agency's code and name
    # are in the rows of the two forwarded cases alone.
    assert sum(reported in line for line in body.splitlines()) == 2
    assert sum(agency.name in line for line in body.splitlines()) == 1
    records = {r["reference"]: r for r in json.loads(download(client, "cases.json"))}
    for case in waiting.values():
        assert [records[case.reference][f] for f in fields] == [None] * 4


def documented(html: str, dataset: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="fields-{dataset}".*?</table>', html, re.S)
    assert table, f"no documentation table for {dataset}"
    return re.findall(r'<th scope="row"><code>([^<]+)</code></th>', table.group(0))


@pytest.mark.parametrize("dataset", ["cases", "scoreboard"])
def test_the_documented_fields_are_the_fields_produced(client, factory, session, dataset):
    factory.case_in("closed")
    session.commit()
    refresh_stats(session)
    page = client.get("/open-data")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    fields = documented(html, dataset)
    assert fields and len(fields) == len(set(fields))

    header = next(csv.reader(io.StringIO(download(client, f"{dataset}.csv").lstrip("\ufeff"))))
    assert header == fields
    records = json.loads(download(client, f"{dataset}.json"))
    assert records, f"{dataset}.json is empty"
    assert all(list(record) == fields for record in records)


def test_the_page_states_the_licence_and_how_fresh_the_data_are(client):
    html = client.get("/open-data").get_data(as_text=True)
    assert "CC BY 4.0" in html and "https://creativecommons.org/licenses/by/4.0/" in html
    for name in FILES:
        assert f"/open-data/{name}" in html


def test_deadline_flags_from_the_events(client, factory, session, monkeypatch):
    on_time = factory.case_in("answered")
    # Received two months ago: the Front forwarded it late, and the agency acknowledged late;
    # its answer deadline, set when it acknowledged today, is met.
    past = date.today() - timedelta(days=60)
    monkeypatch.setattr(lifecycle, "today", lambda: past)
    late, _ = factory.report()
    factory.step(late, "forward")
    monkeypatch.undo()
    factory.step(late, "acknowledge")
    factory.step(late, "answer")
    session.commit()

    rows = {r["reference"]: r for r in json.loads(download(client, "cases.json"))}
    flags = ("forwarded_on_time", "acknowledged_on_time", "answered_on_time")
    assert [rows[on_time.reference][f] for f in flags] == [True, True, True]
    assert [rows[late.reference][f] for f in flags] == [False, False, True]
    assert rows[late.reference]["ping_pong"] is False


def test_a_paused_deadline_is_judged_by_the_date_the_reporters_answer_set():
    t = datetime(2026, 3, 2, 3)
    events = [
        ("submit", t, {"due_stage": "triage", "due_on": "2026-03-04"}),
        ("ask_info", t, {}),
        ("provide_info", t + timedelta(days=10), {"due_stage": "triage", "due_on": "2026-03-16"}),
        ("forward", t + timedelta(days=12), {"due_stage": "acknowledge", "due_on": "2026-03-19"}),
        ("acknowledge", t + timedelta(days=18), {"due_stage": "answer", "due_on": "2026-04-08"}),
        ("request_transfer", t + timedelta(days=19), {"due_stage": "triage", "due_on": "2026-03-24"}),
        ("approve_transfer", t + timedelta(days=20),
         {"due_stage": "acknowledge", "due_on": "2026-03-25"}),
        ("acknowledge", t + timedelta(days=30), {"due_stage": "answer", "due_on": "2026-04-20"}),
    ]
    flags = datasets.deadline_flags(events)
    assert flags == {"forwarded_on_time": True, "acknowledged_on_time": False,
                     "answered_on_time": None, "transfer_requests": 1, "transfers": 1}


def test_the_period_defaults_to_twelve_months_and_is_at_most_thirty_six(client, factory,
                                                                          session):
    recent = factory.case_in("forwarded")
    old = factory.case_in("submitted")
    older = factory.case_in("submitted", sector="land")
    now = utcnow()
    session.execute(update(Case).where(Case.id == old.id)
                    .values(created_at=now - timedelta(days=400)))
    session.execute(update(Case).where(Case.id == older.id)
                    .values(created_at=datetime(now.year - 2, 1, 15, 3)))
    session.commit()

    def references(**query) -> set[str]:
        return {r["reference"] for r in csv_rows(download(client, "cases.csv", **query))}

    # By default the last twelve months, this one included.
    assert references() == {recent.reference}
    # From January two years ago to this month: 25 to 36 months.
    everything = {"from": f"{now.year - 2}-01", "to": f"{now.year}-{now.month:02d}"}
    assert references(**everything) == {recent.reference, old.reference, older.reference}
    assert references(**everything, sector="land") == {older.reference}
    # One month alone.
    assert references(**{"from": f"{now.year - 2}-01", "to": f"{now.year - 2}-01"}) == {
        older.reference}

    for bad in ({"from": "2020-01", "to": "2024-01"}, {"from": "2026-13"}, {"to": "26-01"},
                {"from": "2026-05", "to": "2026-04"}, {"sector": "nonsense"}):
        response = client.get("/open-data/cases.csv", query_string=bad)
        assert response.status_code == 400, bad
        assert "text/html" in response.content_type
    assert client.get("/open-data/cases.xml").status_code == 404
    assert client.get("/open-data/secrets.csv").status_code == 404


def test_parse_period():
    today = date(2026, 5, 20)
    period = parse_period(None, None, today=today)
    assert (period.since, period.until, period.months) == (date(2025, 6, 1), date(2026, 5, 1), 12)
    assert period.last_day == date(2026, 5, 31)
    period = parse_period("2024-02", "2024-02", today=today)
    assert (period.since, period.until, period.last_day) == (
        date(2024, 2, 1), date(2024, 2, 1), date(2024, 2, 29))
    assert parse_period(None, "2025-03", today=today).since == date(2024, 4, 1)
    assert parse_period("2026-01", None, today=today).until == date(2026, 5, 1)
    assert parse_period("2023-06", "2026-05", today=today).months == 36
    with pytest.raises(PeriodError):
        parse_period("2023-05", "2026-05", today=today)
    assert parse_period("2025-01", "2025-03", 12, 3, today=today).months == 3
    with pytest.raises(PeriodError):
        parse_period("2025-01", "2025-04", 12, 3, today=today)
    # Midnight in Hanoi is 17:00 UTC the day before.
    assert period.starts == datetime(2024, 1, 31, 17)
    assert period.ends == datetime(2024, 2, 29, 17)
    assert isinstance(period, Period) and period.label() == "2024-02-to-2024-02"


# (from, to, the field the message is next to): every one a PeriodError, never another error.
HOSTILE_PERIODS = [
    ("0000-01", None, "from"), (None, "0001-05", "to"), ("9999-01", "9999-12", "from"),
    (None, "0001-03", "to"), (None, "0001-01", "to"), ("9999-06", None, "from"),
    ("1999-12", None, "from"), (None, "2101-01", "to"), ("2025-00", None, "from"),
    ("2025-13", None, "from"), ("2025-1", None, "from"), ("+202-01", None, "from"),
    ("\u0662\u0660\u0662\u0665-01", None, "from"),  # Arabic-Indic digits: not ASCII
    ("2025-01\n", "2025-02x", "to"), (None, "-001-01", "to"), ("2025-05", "2025-04", "to"),
    ("2000-01", "2100-12", "to"),  # too long
]


@pytest.mark.parametrize(("start", "end", "field"), HOSTILE_PERIODS)
def test_parse_period_refuses_hostile_months(start, end, field):
    with pytest.raises(PeriodError) as refused:
        parse_period(start, end, today=date(2026, 5, 20))
    assert refused.value.field == field
    assert str(refused.value.message)


def test_parse_period_at_the_ends_of_the_years_allowed():
    today = date(2026, 5, 20)
    earliest = parse_period(None, "2000-01", today=today)
    assert (earliest.since, earliest.until) == (date(1999, 2, 1), date(2000, 1, 1))
    assert earliest.starts == datetime(1999, 1, 31, 17)
    latest = parse_period("2100-12", None, today=today)
    assert (latest.since, latest.until, latest.ends) == (
        date(2100, 12, 1), date(2100, 12, 1), datetime(2100, 12, 31, 17))
    assert parse_period("2098-12", "2100-11", today=today).months == 24


@pytest.mark.parametrize("query", [
    {"to": "0001-01"}, {"from": "9999-06"}, {"from": "0000-01"}, {"to": "0001-05"},
    {"from": "9999-01", "to": "9999-12"}, {"to": "0001-03"}, {"from": "2101-01"},
])
@pytest.mark.parametrize("name", ["cases.csv", "scoreboard.csv", "cases.json",
                                  "scoreboard.json"])
def test_hostile_periods_are_refused_next_to_the_field(client, name, query):
    response = client.get(f"/open-data/{name}", query_string=query)
    assert response.status_code == 400, (name, query)
    assert "text/html" in response.content_type
    html = response.get_data(as_text=True)
    field = next(iter(query))
    assert re.search(rf'<ul class="field-errors" id="{field}-error"><li>[^<]+</li></ul>'
                     rf'<input type="month" id="{field}"[^>]*aria-invalid="true"', html), html
    assert "2000-01" in html and "2100-12" in html  # the message says which months exist


@pytest.mark.parametrize("query", [{"to": "2000-01"}, {"from": "2100-12"}])
def test_the_ends_of_the_years_allowed_download(client, query):
    assert csv_rows(download(client, "cases.csv", **query)) == []
    download(client, "scoreboard.csv", **query)


def test_cases_come_in_batches_continued_from_the_last_row(app, factory, session):
    cases = [factory.case_in("submitted") for _ in range(5)]
    same = datetime.now() - timedelta(days=1)
    # Two cases received at the same instant: the id breaks the tie, none is lost or repeated.
    session.execute(update(Case).where(Case.id.in_([cases[1].id, cases[3].id]))
                    .values(created_at=same))
    session.commit()
    with app.app_context():
        period = parse_period(None, None)
        records = list(datasets.case_records(session, period, size=2))
    references = [r["reference"] for r in records]
    assert sorted(references) == sorted(c.reference for c in cases)
    assert len(set(references)) == 5
    assert references[:2] == [cases[1].reference, cases[3].reference]


def test_the_scoreboard_follows_the_period_and_sector_asked_for(client, factory, session):
    factory.case_in("answered")  # construction, at SO-XD
    refresh_stats(session)
    month = f"{hanoi_date(utcnow()):%Y-%m}"

    rows = json.loads(download(client, "scoreboard.json", **{"from": month, "to": month}))
    assert {(r["period_from"], r["period_to"]) for r in rows} == {(month, month)}
    by_code = {r["agency_code"]: r for r in rows}
    assert by_code["SO-XD"]["received"] == 1 and by_code["SO-XD"]["answered"] == 1
    assert by_code["SO-XD"]["on_time_percent"] == 100.0

    rows = json.loads(download(client, "scoreboard.json", sector="land"))
    assert {r["sector"] for r in rows} == {"land"}
    assert {r["agency_code"]: r for r in rows}["SO-XD"]["received"] == 0
    assert client.get("/open-data/scoreboard.csv", query_string={"from": "2020-01",
                                                                 "to": "2026-01"}).status_code == 400
