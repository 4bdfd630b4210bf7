"""The agency workspace: the inbox, the case page and its actions, the export."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    render_template,
    request,
)
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import paging, uploads
from portal.agency.access import agency_scope, get_agency_case
from portal.agency.answers import submit_answer
from portal.agency.casefile import case_file
from portal.agency.forms import ACTION_FORMS
from portal.auth.permissions import require_roles, staff, staff_actor
from portal.csvexport import csv_response
from portal.db import get_session
from portal.deadlines import hanoi_date
from portal.downloads import send_attachment
from portal.models import Case
from portal.staffactions import page_again, perform
from portal.vocab import AGENCY_ROLES, CONDUCT_LABELS, SECTOR_LABELS, STATUS_LABELS, CaseStatus

blueprint = Blueprint("agency", __name__)
agency_staff = require_roles(*AGENCY_ROLES)

S = CaseStatus
# The inbox's three views: what the agency must do now (by its own deadline), what waits for
# the Front or the reporter, and what is closed.
VIEWS = {
    "open": (S.FORWARDED, S.IN_PROGRESS),
    "waiting": (S.TRANSFER_REQUESTED, S.ANSWERED, S.DISPUTED, S.RESOLVED),
    "done": (S.CLOSED,),
}
PAGE_SIZE = 50


def _inbox_query(view: str):
    return select(Case).where(agency_scope(staff()), Case.status.in_(VIEWS[view]))


@blueprint.get("/")
@agency_staff
def inbox():
    view = request.args.get("view") if request.args.get("view") in VIEWS else "open"
    sort = "newest" if view == "done" else "deadline"
    cases = get_session().scalars(
        _inbox_query(view).options(joinedload(Case.assigned_officer))
        .where(*paging.after(request.args.get("after"), sort))
        .order_by(*paging.order(sort)).limit(PAGE_SIZE + 1)).all()
    more = len(cases) > PAGE_SIZE
    cases = cases[:PAGE_SIZE]
    after = paging.cursor_of(cases[-1], sort) if more and cases else None
    return render_template("agency/inbox.html", cases=cases, view=view, after=after)


@blueprint.get("/cases/<id:case_id>")
@agency_staff
def case_page(case_id: int):
    case = get_agency_case(case_id)
    return render_template("agency/case.html", file=case_file(get_session(), case, staff()))


@blueprint.post("/cases/<id:case_id>/act/<action>")
@agency_staff
def act(case_id: int, action: str):
    return perform(case_id, action, ACTION_FORMS, get_agency_case, _page_with,
                   "agency.case_page", prepare=_with_documents if action == "answer" else None)


def _with_documents(case: Case, form):
    """An answer's documents are checked before anything is stored; then all or nothing."""
    files = [f for f in request.files.getlist(form.evidence.name) if f.filename]
    try:
        checked = uploads.check_files(files)
    except uploads.UploadError as error:
        form.evidence.errors = [error.message]
        return _page_with(case, "answer", form, 400)
    return lambda: submit_answer(get_session(), case, staff_actor(), form.arguments(), checked,
                                 current_app.config["PORTAL_SETTINGS"].upload_dir,
                                 form.expected_version()) is not None


def _page_with(case: Case, action: str, form, status: int, message=None):
    page_again(case, form, status)
    file = case_file(get_session(), case, staff(), failed_action=action, failed_form=form)
    return render_template("agency/case.html", file=file, problem=message,
                           failed_action=action), status


@blueprint.get("/cases/<id:case_id>/files/<id:attachment_id>")
@agency_staff
def attachment(case_id: int, attachment_id: int):
    file = case_file(get_session(), get_agency_case(case_id), staff())
    return send_attachment(next((a for a in file.attachments if a.id == attachment_id), None))


EXPORT_COLUMNS = ("reference", "status", "conduct", "sector", "received", "due_on", "officer",
                  "text")


@blueprint.get("/export.csv")
@agency_staff
def export():
    """The agency's cases for its own records: the reviewed text, never the reporter."""
    query = (select(Case).options(joinedload(Case.assigned_officer))
             .where(agency_scope(staff())).order_by(Case.id).execution_options(yield_per=500))

    def rows():
        for case in get_session().scalars(query):
            yield (case.reference, STATUS_LABELS[case.status], CONDUCT_LABELS[case.conduct],
                   SECTOR_LABELS[case.sector], hanoi_date(case.created_at).isoformat(),
                   case.due_on.isoformat() if case.due_on else "",
                   case.assigned_officer.name if case.assigned_officer else "",
                   case.public_description if case.description_redacted is not None
                   or not case.confidential else "")

    return csv_response(EXPORT_COLUMNS, rows(), "cases.csv")


from portal.agency import team_views  # noqa: E402,F401 - registers the head's routes
