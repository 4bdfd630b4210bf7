"""The Front's pages: thin views over the queue, the case file and the lifecycle."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from moderation.casefile import case_file, get_front_case
from moderation.forms import ACTION_FORMS, QueueFilterForm
from moderation.queue import SORTS, QueueFilters, queue_page, status_counts
from portal import lifecycle
from portal.auth.permissions import require_roles, staff, staff_actor
from portal.db import commit_or_conflict, get_session
from portal.downloads import send_attachment
from portal.models import Agency, Attachment, FrontCommittee, User
from portal.seed import hanoi_communes
from portal.staffactions import page_again, perform
from portal.vocab import CONDUCT_LABELS, FRONT_ROLES, SECTOR_LABELS, STATUS_LABELS

blueprint = Blueprint("moderation", __name__)
front_only = require_roles(*FRONT_ROLES)


def _known(value, vocabulary):
    """A filter value from the query string, if it is one the portal knows; else no filter."""
    return value if value in vocabulary else None


def _filters(form: QueueFilterForm) -> QueueFilters:
    confidential = {"yes": True, "no": False}.get(form.confidential.data or "")
    status = form.status.data if form.status.data is not None else "open"
    return QueueFilters(
        status=status if status in ("open", "") or status in STATUS_LABELS else "open",
        agency_id=form.agency.data, conduct=_known(form.conduct.data, CONDUCT_LABELS),
        sector=_known(form.sector.data, SECTOR_LABELS), ward_code=form.commune.data,
        committee_id=form.committee.data, overdue=bool(form.overdue.data),
        escalated=bool(form.escalated.data),
        due_within=form.due_within.data if not form.due_within.errors else None,
        claimed=form.claimed.data or None, confidential=confidential,
        search=form.q.data or "", sort=_known(form.sort.data, SORTS) or "deadline")


def _filter_form() -> QueueFilterForm:
    db = get_session()
    user = staff()
    form = QueueFilterForm(request.args)
    # Plain rows, not objects: the lists are read on every page of the queue.
    agencies = [(agency_id, name) for agency_id, name in db.execute(
        select(Agency.id, Agency.name).where(Agency.active.is_(True))
        .order_by(Agency.kind, Agency.name))]
    committees = []
    if user.front_committee.is_city:
        committees = [(committee_id, name) for committee_id, name in db.execute(
            select(FrontCommittee.id, FrontCommittee.name)
            .order_by(FrontCommittee.ward_code.is_not(None), FrontCommittee.name))]
    colleagues = [(str(user_id), name or email) for user_id, name, email in db.execute(
        select(User.id, User.name, User.email)
        .where(User.front_committee_id == user.front_committee_id, User.active.is_(True))
        .order_by(User.name))]
    form.fill_choices(agencies, [(c.code, c.name) for c in hanoi_communes()], committees,
                      colleagues)
    form.validate()
    return form


@blueprint.get("/")
@front_only
def queue():
    form = _filter_form()
    filters = _filters(form)
    db = get_session()
    counts = status_counts(db, staff(), filters)
    page = queue_page(db, staff(), filters, request.args.get("after"),
                      many_matches=counts.open_more_than is not None)
    query = {k: v for k, v in request.args.items(multi=False) if k != "after"}
    status = 400 if form.errors else 200
    return render_template("moderation/queue.html", form=form, page=page, counts=counts,
                           query=query, filters=filters), status


@blueprint.get("/cases/<id:case_id>")
@front_only
def case_page(case_id: int):
    case = get_front_case(case_id)
    return render_template("moderation/case.html", file=case_file(get_session(), case, staff()))


@blueprint.post("/cases/<id:case_id>/identity")
@front_only
def identity(case_id: int):
    """Looking at a confidential reporter's identity is itself on the record."""
    db = get_session()
    case = get_front_case(case_id)
    lifecycle.view_identity(db, case, staff_actor())
    if not commit_or_conflict(db):
        flash(_("Someone else changed this case at the same moment. Try again."))
        return redirect(url_for("moderation.case_page", case_id=case_id), 303)
    return render_template("moderation/case.html",
                           file=case_file(db, get_front_case(case_id), staff(), show_identity=True))


@blueprint.post("/cases/<id:case_id>/act/<action>")
@front_only
def act(case_id: int, action: str):
    return perform(case_id, action, ACTION_FORMS, get_front_case, _case_page_with,
                   "moderation.case_page")


def _case_page_with(case, action: str, form, status: int, message=None):
    """The case page again, with the failed action's form, its errors and what went wrong."""
    page_again(case, form, status)
    file = case_file(get_session(), case, staff(), failed_action=action, failed_form=form)
    return render_template("moderation/case.html", file=file, problem=message), status


@blueprint.get("/cases/<id:case_id>/files/<id:attachment_id>")
@front_only
def attachment(case_id: int, attachment_id: int):
    case = get_front_case(case_id)
    item = get_session().get(Attachment, attachment_id)
    return send_attachment(item if item is not None and item.case_id == case.id else None)
