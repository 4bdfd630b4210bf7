"""The rules of the Open311 GeoReport v2 server, as plain functions the views call.

- Services are the conduct kinds of the portal; a report's agency, sector, commune and the
  reporter's choices are the service definition's attributes.
- A report posted here is checked by the web form's own `ReportForm` and filed by the web
  form's own `reports.new_report_from` and `lifecycle.submit`: the same rules, the same
  moderation queue, the same routing to the Front committee that supervises the agency.
- What a request shows is public: never the reporter's identity; the text only once the
  case is published, and then the Front-reviewed text alone.

The API's own words (errors, notices, hints) are English and machine-facing, as the
specification's are; the portal's vocabulary (service names, list values, status notes)
comes from its translations in Vietnamese, the portal's first language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import force_locale
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, load_only, selectinload
from werkzeug.datastructures import MultiDict

from portal import lifecycle, receipts, reports
from portal.citizen.forms import ReportForm
from portal.deadlines import HANOI, hanoi_date
from portal.models import Agency, ApiKey, Case, CaseEvent
from portal.seed import hanoi_communes
from portal.vocab import (
    CONDUCT_EXAMPLES,
    CONDUCT_LABELS,
    OPEN_STATUSES,
    REJECT_REASON_LABELS,
    REPORTER_KIND_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    AgencyKind,
    CaseStatus,
    Conduct,
    ReporterKind,
)

JURISDICTION = "hanoi"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_RESULTS = 1000
MAX_SPAN = timedelta(days=90)
MAX_ECHO = 60  # how much of a bad value an error repeats

S = CaseStatus

# Synonyms a client may search by: the words of Directive 24-CT/TU, then English.
KEYWORDS = {
    Conduct.SHIRKING: "né tránh, không giải quyết, shirking",
    Conduct.BUCK_PASSING: "đùn đẩy, đùn đẩy trách nhiệm, buck passing",
    Conduct.SLOW_HANDLING: "chậm trễ, quá hạn, slow handling, overdue",
    Conduct.OVERLAP: "chồng chéo, overlapping duties",
    Conduct.OMISSION: "bỏ sót, không ai chịu trách nhiệm, omission",
    Conduct.HARASSMENT: "gây phiền hà, sách nhiễu, harassment",
    Conduct.ATTITUDE: "thái độ, attitude",
    Conduct.OTHER: "khác, other",
}
GROUPS = {
    Conduct.SHIRKING: "responsibility",
    Conduct.BUCK_PASSING: "responsibility",
    Conduct.OVERLAP: "responsibility",
    Conduct.OMISSION: "responsibility",
    Conduct.SLOW_HANDLING: "timeliness",
    Conduct.HARASSMENT: "conduct of officials",
    Conduct.ATTITUDE: "conduct of officials",
    Conduct.OTHER: "other",
}

# What happens next, by state (the `service_notice` of a request).
NOTICES = {
    S.SUBMITTED: "The Fatherland Front committee that supervises the agency reviews the report, "
                 "then forwards it to the agency with a deadline or says why it does not.",
    S.NEEDS_INFO: "The Front asked the reporter for more information; the deadline is paused "
                  "until the reporter answers.",
    S.FORWARDED: "The Front forwarded the case: the agency must acknowledge it, then answer "
                 "by the deadline.",
    S.IN_PROGRESS: "The agency is handling the case and must answer by the deadline; the Front "
                   "reviews the answer.",
    S.TRANSFER_REQUESTED: "The agency says another agency is competent; the Front decides. "
                          "Every transfer request counts against the agency that asked.",
    S.ANSWERED: "The agency answered; the Front reviews the answer before it reaches the "
                "reporter.",
    S.DISPUTED: "The reporter says the problem is not solved; the Front reviews the answer "
                "again.",
    S.RESOLVED: "The Front accepted the agency's answer; the reporter may rate it or dispute it "
                "until the deadline.",
}

# Each field of the web form, and the Open311 parameter that carries it.
PARAMETERS = {
    "agency_id": "attribute[agency]",
    "conduct": "service_code",
    "sector": "attribute[sector]",
    "ward_code": "attribute[commune]",
    "reporter_kind": "attribute[reporter_kind]",
    "confidential": "attribute[confidential]",
    "publish_consent": "attribute[publish]",
    "occurred_on": "attribute[occurred_on]",
    "business_name": "attribute[business_name]",
    "tax_code": "attribute[tax_code]",
    "description": "description",
    "address": "address_string",
    "reporter_name": "first_name/last_name",
    "reporter_email": "email",
    "reporter_phone": "phone",
}


class Open311Error(Exception):
    """A request the server refuses: the HTTP status and the (code, description) pairs."""

    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.problems = [(status, d) for d in descriptions]


def echo(value: str) -> str:
    value = value.strip()
    return value if len(value) <= MAX_ECHO else value[:MAX_ECHO] + "…"


def check_jurisdiction(value: str | None) -> None:
    """One jurisdiction: "hanoi", or none given (the specification lets a one-city server)."""
    if value and value.strip() and value.strip().lower() != JURISDICTION:
        raise Open311Error(404, f"jurisdiction_id '{echo(value)}' was not found: this endpoint "
                                f"serves only '{JURISDICTION}'.")


# -- dates ------------------------------------------------------------------------------------

_W3_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_W3_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def parse_w3(value: str) -> date | datetime:
    """A W3C date (a Hanoi day) or date and time with its time zone; else ValueError.

    A "+07:00" sent in a URL without encoding arrives as " 07:00": it is read as meant.
    """
    value = re.sub(r"(T[\d:.]+) (\d{2}:\d{2})$", r"\1+\2", value.strip())
    if _W3_DATE.fullmatch(value):
        return date.fromisoformat(value)
    if _W3_DATETIME.fullmatch(value):
        return datetime.fromisoformat(value)
    raise ValueError(value)


def w3_day(moment: datetime | None) -> str | None:
    """A stored moment (naive UTC) to the day only: its Hanoi date at 00:00 +07:00.

    What the API publishes is open data, and open data gives no exact time: the day a
    report came in or changed state is enough to follow it, and cannot be matched to a
    reporter's visit, call or message the way the minute could.
    """
    if moment is None:
        return None
    return datetime.combine(hanoi_date(moment), time.min, HANOI).isoformat()


def _deadline(day: date) -> str:
    """A deadline ends with its Hanoi working day."""
    return datetime.combine(day, time(23, 59, 59), HANOI).isoformat()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# -- services ---------------------------------------------------------------------------------


def service_list() -> list[dict[str, Any]]:
    with force_locale("vi"):
        return [{
            "service_code": str(conduct),
            "service_name": str(label),
            "description": str(CONDUCT_EXAMPLES[conduct]),
            "metadata": True,
            "type": "realtime",
            "keywords": KEYWORDS[conduct],
            "group": GROUPS[conduct],
        } for conduct, label in CONDUCT_LABELS.items()]


def check_service(code: str | None) -> str:
    code = (code or "").strip()
    if not code:
        raise Open311Error(400, "service_code was not provided.")
    if code not in CONDUCT_LABELS:
        raise Open311Error(404, f"service_code '{echo(code)}' was not found.")
    return code


def _agencies(session: Session) -> list[Agency]:
    order = list(AgencyKind)
    agencies = session.scalars(select(Agency).where(Agency.active.is_(True))).all()
    return sorted(agencies, key=lambda a: (order.index(a.kind) if a.kind in order else len(order),
                                           a.name, a.code))


def _attribute(order: int, code: str, datatype: str, required: bool, hint: str,
               description: str, values: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return {
        "variable": True,
        "code": code,
        "datatype": datatype,
        "required": required,
        "datatype_description": hint,
        "order": order,
        "description": description,
        "values": [{"key": key, "name": name} for key, name in values or []],
    }


YES_NO = [("true", "Yes"), ("false", "No")]


def service_definition(session: Session, code: str) -> dict[str, Any]:
    code = check_service(code)
    form = ReportForm(formdata=None, meta={"csrf": False})  # the web form's own labels
    with force_locale("vi"):
        def label(field: str) -> str:
            return str(form[field].label.text)

        attributes = [
            _attribute(1, "agency", "singlevaluelist", True,
                       "The code (key) of the agency reported: every active agency of the city "
                       "and of its communes and wards.",
                       label("agency_id"), [(a.code, a.name) for a in _agencies(session)]),
            _attribute(2, "sector", "singlevaluelist", True, "The area of work (key).",
                       label("sector"), [(str(k), str(v)) for k, v in SECTOR_LABELS.items()]),
            _attribute(3, "commune", "singlevaluelist", False,
                       "The commune or ward where it happened (its 2025 code), if in Hanoi.",
                       label("ward_code"), [(str(c.code), c.name) for c in hanoi_communes()]),
            _attribute(4, "reporter_kind", "singlevaluelist", False,
                       "Who reports: resident when not given.", label("reporter_kind"),
                       [(str(k), str(v)) for k, v in REPORTER_KIND_LABELS.items()]),
            _attribute(5, "confidential", "singlevaluelist", False,
                       "true: the agency never sees the reporter's name, email or phone (the "
                       "Front does); needs at least one of them.", label("confidential"), YES_NO),
            _attribute(6, "publish", "singlevaluelist", False,
                       "true: the reporter agrees that the Front-reviewed text and the answer "
                       "are published, without the reporter's name.",
                       label("publish_consent"), YES_NO),
            _attribute(7, "occurred_on", "datetime", False,
                       "W3C date or date and time, e.g. 2026-10-01 or 2026-10-01T09:30:00+07:00; "
                       "not in the future.", label("occurred_on")),
            _attribute(8, "business_name", "string", False,
                       "For a business or organisation; at most 200 characters.",
                       label("business_name")),
            _attribute(9, "tax_code", "string", False,
                       "For a business: 10 digits, or 10 digits, a dash and 3 more.",
                       label("tax_code")),
        ]
    return {"service_code": code, "attributes": attributes}


# -- filing a report --------------------------------------------------------------------------


def _flag(params: MultiDict, name: str, field: str, data: MultiDict, problems: list[str]) -> None:
    raw = (params.get(f"attribute[{name}]") or "").strip().lower()
    if raw == "true":
        data[field] = "y"
    elif raw not in ("", "false"):
        problems.append(f"attribute[{name}]: '{echo(raw)}' is not one of true, false.")


def _full_name(params: MultiDict) -> str:
    """A Vietnamese name is written family name first: Nguyễn (last) Văn An (first)."""
    parts = [(params.get("last_name") or "").strip(), (params.get("first_name") or "").strip()]
    return " ".join(p for p in parts if p)


def validate_report(session: Session, params: MultiDict) -> ReportForm:
    """The web form, filled in from the Open311 parameters and checked by its own rules.

    Raises `Open311Error`: 404 for an unknown service_code (as the specification says),
    400 with every problem at once for the rest.
    """
    code = check_service(params.get("service_code"))
    problems: list[str] = []
    data = MultiDict({"conduct": code, "reporter_kind": ReporterKind.RESIDENT})
    agency_code = (params.get("attribute[agency]") or "").strip()
    if not agency_code:
        problems.append("attribute[agency] was not provided: give the code of the agency "
                        "reported (see the service definition).")
    else:
        # A code is printable: a control character (PostgreSQL refuses NUL) is not looked up.
        agency = session.scalar(select(Agency).where(
            func.upper(Agency.code) == agency_code.upper())) if agency_code.isprintable() else None
        if agency is None or not agency.active:
            problems.append(f"attribute[agency]: '{echo(agency_code)}' is not the code of an "
                            "active agency (see the service definition).")
        else:
            data["agency_id"] = str(agency.id)
    for name, field in (("sector", "sector"), ("commune", "ward_code"),
                        ("reporter_kind", "reporter_kind"), ("business_name", "business_name"),
                        ("tax_code", "tax_code")):
        value = params.get(f"attribute[{name}]")
        if value is not None and value.strip():
            data[field] = value
    occurred = (params.get("attribute[occurred_on]") or "").strip()
    if occurred:
        try:
            moment = parse_w3(occurred)
        except ValueError:
            problems.append(f"attribute[occurred_on]: '{echo(occurred)}' is not a W3C date or "
                            "date and time with its time zone, e.g. 2026-10-01T09:30:00+07:00.")
        else:
            try:  # the Hanoi day of a moment at the edge of year 1 or 9999 is out of range
                day = moment.astimezone(HANOI).date() if isinstance(moment, datetime) else moment
            except (OverflowError, ValueError):
                problems.append(f"attribute[occurred_on]: '{echo(occurred)}' is out of range.")
            else:
                data["occurred_on"] = day.isoformat()
    _flag(params, "confidential", "confidential", data, problems)
    _flag(params, "publish", "publish_consent", data, problems)
    for param, field in (("description", "description"), ("address_string", "address"),
                         ("email", "reporter_email"), ("phone", "reporter_phone")):
        data[field] = params.get(param) or ""
    data["reporter_name"] = _full_name(params)

    already = {"agency_id"} if "agency_id" not in data else set()
    if "occurred_on" not in data and occurred:
        already.add("occurred_on")
    with force_locale("en"):
        form = ReportForm(formdata=data, meta={"csrf": False})
        form.validate()
        for field, errors in form.errors.items():
            if field in already or field not in PARAMETERS:
                continue
            for message in errors:
                problems.append(f"{PARAMETERS[field]}: {_api_message(field, message)}")
    if problems:
        raise Open311Error(400, *problems)
    return form


def _api_message(field: str, message) -> str:
    if field == "confidential":
        return ("true, but no first_name, last_name, email or phone was given: there is no "
                "identity to keep from the agency. Send false (or nothing) to report anonymously.")
    return str(message)


@dataclass
class Filed:
    case: Case
    tracking_code: str


def file_report(session: Session, key: ApiKey, form: ReportForm, secret_key: str,
                now: datetime) -> Filed:
    """File the report exactly as the web form does, and note the key's use; the caller commits.

    The case gets a one-time token of its own, and its tracking code is derived from it as
    for the web form: the receipt email can carry the code, and the database keeps only its
    hash.
    """
    token = receipts.new_submission_token()
    code = receipts.tracking_code_for(secret_key, token)
    case, code = lifecycle.submit(session, reports.new_report_from(form, token, "vi"), code)
    key.last_used_at = now
    return Filed(case=case, tracking_code=code)


def created_response(filed: Filed, base_url: str) -> list[dict[str, Any]]:
    """The answer to POST requests: the request's id at once (a "realtime" service)."""
    case = filed.case
    notice = (f"Received as {case.reference}. {NOTICES[S.SUBMITTED]} Tracking code for the "
              f"reporter: {filed.tracking_code}. It is the only key to answer the Front's "
              f"questions and to rate the result at {base_url}/track, and it is not shown "
              "again: give it to the reporter.")
    if case.reporter_email:
        notice += " A receipt with the code was sent to the reporter's email."
    return [{"service_request_id": case.reference, "service_notice": notice, "account_id": None}]


# -- reading requests -------------------------------------------------------------------------

_REFERENCE = re.compile(r"PA(\d{2})-(\d{7,10})")


def case_by_reference(session: Session, reference: str) -> Case | None:
    match = _REFERENCE.fullmatch((reference or "").strip().upper())
    if not match:
        return None
    case_id = int(match.group(2))
    if case_id > 2**31 - 1:
        return None
    case = session.get(Case, case_id)
    return case if case is not None and case.reference == match.group(0) else None


@dataclass
class RequestQuery:
    references: list[str] | None = None
    codes: set[str] | None = None
    statuses: set[str] | None = None
    start: datetime | None = None  # naive UTC, inclusive
    end: datetime | None = None


def _comma_list(args: MultiDict, name: str) -> list[str]:
    """A comma-separated argument, which may also be given several times."""
    return [item.strip() for value in args.getlist(name) for item in value.split(",")
            if item.strip()]


def _bound(args: MultiDict, name: str, end: bool) -> datetime | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = parse_w3(raw)
    except ValueError:
        raise Open311Error(400, f"{name}: '{echo(raw)}' is not a W3C date and time with its "
                                "time zone, e.g. 2010-01-01T00:00:00Z.") from None
    try:
        if not isinstance(moment, datetime):  # a whole Hanoi day
            moment = datetime.combine(moment, time.max if end else time.min, HANOI)
        return _utc(moment)
    except (OverflowError, ValueError):  # in UTC, before year 1 or after year 9999
        raise _out_of_range(name, raw) from None


def _out_of_range(name: str, raw: str) -> Open311Error:
    return Open311Error(400, f"{name}: '{echo(raw)}' is out of range: give a date and time "
                             "between the years 1 and 9999 with 90 days to spare.")


def parse_query(args: MultiDict, now: datetime) -> RequestQuery:
    """The filters of GET requests, with the specification's defaults: the last 90 days."""
    references = _comma_list(args, "service_request_id")
    if references:  # "This overrides all other arguments."
        if len(references) > MAX_RESULTS:
            raise Open311Error(400, f"service_request_id: at most {MAX_RESULTS} ids at once.")
        return RequestQuery(references=references)
    problems = []
    codes = set(_comma_list(args, "service_code"))
    unknown = sorted(codes - set(CONDUCT_LABELS))
    if unknown:
        problems.append(f"service_code: '{echo(', '.join(unknown))}' not found.")
    statuses = {s.lower() for s in _comma_list(args, "status")}
    if statuses - {"open", "closed"}:
        problems.append("status: use open, closed or both, comma separated.")
    try:
        start, end = _bound(args, "start_date", end=False), _bound(args, "end_date", end=True)
    except Open311Error as error:
        problems.extend(d for _c, d in error.problems)
        start = end = None
    if problems:
        raise Open311Error(400, *problems)
    if start is None and end is None:
        end, start = now, now - MAX_SPAN
    elif start is None:
        try:
            start = end - MAX_SPAN
        except OverflowError:
            raise _out_of_range("end_date", args.get("end_date", "")) from None
    elif end is None:
        try:
            end = start + MAX_SPAN
        except OverflowError:
            raise _out_of_range("start_date", args.get("start_date", "")) from None
    if start > end:
        raise Open311Error(400, "start_date is after end_date.")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days.")
    return RequestQuery(codes=codes or None, statuses=statuses or None, start=start, end=end)


# What `request_views` reads of a case: a thousand rows without their texts, hashes and
# search columns load in a fraction of the time.
VIEW_COLUMNS = (Case.id, Case.created_at, Case.status, Case.reject_reason, Case.merged_into_id,
                Case.conduct, Case.description_redacted, Case.published_at, Case.ward_code,
                Case.due_on, Case.paused_on, Case.assigned_agency_id, Case.front_committee_id)


def find_requests(session: Session, query: RequestQuery) -> list[Case]:
    """At most 1000 cases, newest first."""
    stmt = select(Case).options(load_only(*VIEW_COLUMNS), selectinload(Case.assigned_agency),
                                selectinload(Case.front_committee))
    if query.references is not None:
        wanted = {r.upper() for r in query.references}
        ids = []
        for reference in wanted:
            match = _REFERENCE.fullmatch(reference)
            if match and int(match.group(2)) <= 2**31 - 1:
                ids.append(int(match.group(2)))
        if not ids:
            return []
        stmt = stmt.where(Case.id.in_(ids))
    else:
        stmt = stmt.where(Case.created_at >= query.start, Case.created_at <= query.end)
        if query.codes:
            stmt = stmt.where(Case.conduct.in_(sorted(query.codes)))
        if query.statuses and len(query.statuses) == 1:
            open_ = sorted(OPEN_STATUSES)
            stmt = stmt.where(Case.status.in_(open_) if "open" in query.statuses
                              else Case.status.not_in(open_))
    cases = session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc())
                            .limit(MAX_RESULTS)).all()
    if query.references is not None:
        cases = [c for c in cases if c.reference in wanted]
    return list(cases)


def _merged_into(session: Session, cases: list[Case]) -> dict[int, str]:
    ids = {c.merged_into_id for c in cases if c.merged_into_id}
    if not ids:
        return {}
    return {c.id: c.reference for c in session.scalars(
        select(Case).options(load_only(Case.id, Case.created_at)).where(Case.id.in_(ids)))}


def _commune_names() -> dict[int, str]:
    return {c.code: c.name for c in hanoi_communes()}


def request_views(session: Session, cases: list[Case]) -> list[dict[str, Any]]:
    """What the public may know of each case: the fields of GET requests, nothing more.

    Never the reporter's identity (name, email, phone, business, tax code), never the text
    as the reporter wrote it. The Front-reviewed text only once the case is published; the
    place only as its commune, since the free-text address is not reviewed by the Front.
    """
    merged = _merged_into(session, cases)
    changed = _status_changed_at(session, cases)
    communes = _commune_names()
    views = []
    with force_locale("vi"):
        for case in cases:
            published = case.published_at is not None and case.description_redacted is not None
            views.append({
                "service_request_id": case.reference,
                "status": "open" if case.status in OPEN_STATUSES else "closed",
                "status_notes": _status_notes(case, merged),
                "service_name": str(CONDUCT_LABELS.get(case.conduct, case.conduct)),
                "service_code": case.conduct,
                "description": case.description_redacted if published else None,
                "agency_responsible": _responsible(case),
                "service_notice": NOTICES.get(case.status),
                "requested_datetime": w3_day(case.created_at),
                "updated_datetime": w3_day(changed.get(case.id, case.created_at)),
                "expected_datetime": _expected(case),
                "address": (f"{communes[case.ward_code]}, Hà Nội"
                            if published and case.ward_code in communes else None),
                # The specification's other fields, empty as in its examples: the portal keeps
                # no location of the reporter and publishes no evidence.
                "address_id": None,
                "zipcode": None,
                "lat": None,
                "long": None,
                "media_url": None,
            })
    return views


def _status_changed_at(session: Session, cases: list[Case]) -> dict[int, datetime]:
    """When each case last changed state (or was submitted), for a whole page in one query.

    Not `Case.updated_at`: that moves with the Front's own work (viewing the identity, a
    note, a claim, the review of the text), which is nobody else's business.
    """
    ids = [c.id for c in cases]
    if not ids:
        return {}
    rows = session.execute(
        select(CaseEvent.case_id, func.max(CaseEvent.created_at))
        .where(CaseEvent.case_id.in_(ids),
               or_(CaseEvent.from_status.is_distinct_from(CaseEvent.to_status),
                   CaseEvent.action == "submit"))
        .group_by(CaseEvent.case_id))
    return {case_id: moment for case_id, moment in rows if moment is not None}


def _expected(case: Case) -> str | None:
    """The deadline of the one who must act now; none once the Front accepted the answer.

    A resolved case waits only for the reporter's rating, and that window is not a
    deadline of the agency or the Front; a closed case waits for nothing.
    """
    if case.status not in OPEN_STATUSES or case.status == S.RESOLVED:
        return None
    if case.due_on is None or case.paused_on is not None:
        return None
    return _deadline(case.due_on)


def _responsible(case: Case) -> str:
    """Who holds the case now: the agency it was forwarded to, else the Front committee.

    Until the Front accepts a report, the agency it names is not published as responsible.
    """
    if case.assigned_agency is not None:
        return case.assigned_agency.name
    return case.front_committee.name


def _status_notes(case: Case, merged: dict[int, str]) -> str:
    note = str(STATUS_LABELS.get(case.status, case.status))
    if case.status == S.REJECTED and case.reject_reason in REJECT_REASON_LABELS:
        note += f": {REJECT_REASON_LABELS[case.reject_reason]}"
    if case.status == S.MERGED and case.merged_into_id in merged:
        note += f": {merged[case.merged_into_id]}"
    return note
