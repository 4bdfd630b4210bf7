"""The citizen's pages. Thin: forms check input, `portal.lifecycle` and `portal.reports` act."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal import abuse, lifecycle, outbox, receipts, reports, uploads
from portal.citizen.forms import (
    RATING_FACTOR_LABELS,
    SCORE_LABELS,
    DisputeForm,
    RatingForm,
    ReplyForm,
    ReportForm,
    TrackForm,
    agency_choices,
    to_int_or_none,
)
from portal.db import commit_or_conflict, get_session
from portal.downloads import send_attachment
from portal.i18n import select_locale
from portal.lifecycle import Actor, StaleCase, TransitionRefused
from portal.models import Answer, Attachment, Case
from portal.seed import hanoi_communes
from portal.tracking import case_view, find_by_code
from portal.vocab import (
    CONDUCT_EXAMPLES,
    CONDUCT_LABELS,
    DEADLINE_STAGE_LABELS,
    DEFAULT_DEADLINE_DAYS,
)

log = logging.getLogger(__name__)

blueprint = Blueprint("citizen", __name__)

TRACKED = "tracked_cases"  # ids of the cases whose code was entered in this session
ISSUED_TOKENS = "report_tokens"  # one-time tokens of the report forms handed out
MAX_TRACKED = 20


@blueprint.get("/")
def home():
    return render_template("citizen/home.html", conducts=CONDUCT_LABELS, examples=CONDUCT_EXAMPLES,
                           stages=DEADLINE_STAGE_LABELS, days=DEFAULT_DEADLINE_DAYS)


def _issue_token() -> str:
    token = receipts.new_submission_token()
    session[ISSUED_TOKENS] = [*session.get(ISSUED_TOKENS, [])[-9:], token]
    return token


def _report_form(form: ReportForm | None = None) -> ReportForm:
    form = form or ReportForm()
    form.agency_id.choices = agency_choices(select_locale())
    form.ward_code.choices = [("", _("— not in Hanoi or not known —"))] + [
        (c.code, c.name) for c in hanoi_communes()]
    return form


def _render_report(form: ReportForm, status: int = 200, notice: str | None = None):
    return render_template("citizen/report.html", form=form, notice=notice,
                           max_files=uploads.MAX_FILES,
                           max_mb=uploads.MAX_FILE_BYTES // (1024 * 1024)), status


@blueprint.get("/report")
def report():
    form = _report_form()
    form.submission_token.data = _issue_token()
    return _render_report(form)


@blueprint.post("/report")
def report_submit():
    form = _report_form()
    db = get_session()
    token = form.submission_token.data or ""
    issued = token in session.get(ISSUED_TOKENS, [])
    if not issued:
        # Sent again after its receipt was shown (the token left this session then), or a
        # form from elsewhere. A form sent again while still issued is caught by the token's
        # unique key when its case is stored (`reports.create`), or by `_sent_before` when
        # the form would be refused.
        existing = _sent_before(db, token)
        if existing is not None:
            return _already_received(existing, issued_here=False)
        form.submission_token.data = _issue_token()
        _validate_uncounted(form)  # show every other problem at once
        return _render_report(form, 400, notice=_(
            "This form has expired or was already sent. What you typed is kept below; "
            "attach your files again and send it once more."))

    files = [f for f in request.files.getlist(form.evidence.name) if f.filename]
    # Counted (and committed) before anything else is looked at, so reports sent at once
    # cannot all pass the limit; taken back below when the request stores nothing.
    counted = abuse.hit(db, abuse.REPORT)
    if counted.limited is not None or form.homepage.data or not form.validate():
        # Before saying the report was not received: its receipt may have been lost on the
        # way, and the same form sent again.
        existing = _sent_before(db, token)
        if existing is not None:
            abuse.forgive(db, counted)
            return _already_received(existing, issued_here=True)
    if counted.limited is not None:
        return _report_limited(form, counted.limited)
    if form.homepage.data:
        return _caught_by_honeypot(form)
    if form.errors:
        # A banned contact stays counted, so trying contact after contact soon meets the
        # limit; a person's mistakes do not use it up.
        if not form.banned_contact:
            abuse.forgive(db, counted)
        return _render_report(form, 400, notice=_files_lost_notice(files))
    try:
        checked = uploads.check_files(files)
    except uploads.UploadError as error:
        abuse.forgive(db, counted)
        form.evidence.errors = [error.message]
        return _render_report(form, 400, notice=_files_lost_notice(files))

    code = receipts.tracking_code_for(current_app.config["SECRET_KEY"], token)
    outcome = reports.create(db, form, checked, token, code, select_locale(),
                             current_app.config["PORTAL_SETTINGS"].upload_dir)
    if outcome.duplicate is not None:
        abuse.forgive(db, counted)  # the same report, sent twice: counted once, by the first
        return _already_received(outcome.duplicate, issued)
    outbox.deliver_after_response(db)
    _hand_over_receipt(outcome.case, token)
    return redirect(url_for("citizen.receipt"), 303)


def _sent_before(db, token: str) -> Case | None:
    """The case already filed from this form, if any."""
    if not receipts.is_submission_token(token):
        return None
    return db.scalar(select(Case).where(Case.submission_token == token))


def _report_limited(form: ReportForm, limited: abuse.Limited):
    """Too many reports from this browser or this address: the form again, nothing stored."""
    page, status = _render_report(form, 429, notice=_(
        "Too many reports were sent from this device or this network in the last hour, so this "
        "one was not received. What you typed is kept below: send it again in about "
        "%(minutes)d minutes, and attach your files again.", minutes=limited.minutes))
    return page, status, {"Retry-After": str(limited.retry_after)}


def _validate_uncounted(form: ReportForm) -> None:
    """Every field checked, to show all problems at once, but the ban list not asked: this
    request is not counted toward the limit (its form token or CSRF token is no good), so
    the answer must not tell whether a contact is banned, or contacts could be tried freely."""
    form.check_bans = False
    form.validate()


def _caught_by_honeypot(form: ReportForm):
    """A bot filled in the field people never see. No receipt, not even a fake one: it would
    tell the bot nothing, but a person whose browser filled the field by mistake would believe
    the report was sent. So the form comes back, without that field, and nothing is stored.
    The attempt stays counted toward the limit: a bot soon meets it."""
    log.warning("report refused: the honeypot field was filled in")
    form.homepage.data = ""
    return _render_report(form, 400, notice=_(
        "Your report could not be sent. Check the form and send it again; attach your files "
        "again if you chose any."))


def _hand_over_receipt(case: Case, token: str) -> None:
    session[ISSUED_TOKENS] = [t for t in session.get(ISSUED_TOKENS, []) if t != token]
    _remember_case(case.id)
    session["receipt"] = case.id


def _files_lost_notice(files) -> str | None:
    if not files:
        return None
    return _("Please check the fields marked below. For your safety the files you chose were "
             "not kept: attach them again before sending.")


def _already_received(case: Case, issued_here: bool):
    """The same form arrived twice. The browser it was issued to sees its receipt again."""
    if issued_here or session.get("receipt") == case.id:
        _hand_over_receipt(case, case.submission_token)
        return _render_receipt(case)
    return render_template("citizen/already_received.html", case=case), 200


def _render_receipt(case: Case):
    code = receipts.tracking_code_for(current_app.config["SECRET_KEY"], case.submission_token)
    return render_template("citizen/receipt.html", case=case, code=code)


@blueprint.get("/report/received")
def receipt():
    """The receipt with the tracking code: shown once, right after the report is filed."""
    case_id = session.pop("receipt", None)
    case = get_session().get(Case, case_id) if isinstance(case_id, int) else None
    if case is None:
        return redirect(url_for("citizen.track"))
    return _render_receipt(case)


def csrf_failure_for(endpoint: str | None):
    """A report whose CSRF token expired is shown again with what was typed, not a bare error."""
    if endpoint != "citizen.report_submit":
        return None
    form = _report_form()
    form.submission_token.data = _issue_token()
    _validate_uncounted(form)
    form.csrf_token.errors = []  # the notice says it; the new page carries a fresh token
    return _render_report(form, 400, notice=_(
        "This form has expired or was not sent from this site. What you typed is kept below; "
        "attach your files again and send it once more."))


# -- tracking ---------------------------------------------------------------------------------


def _remember_case(case_id: int) -> None:
    tracked = [i for i in session.get(TRACKED, []) if i != case_id]
    session[TRACKED] = [*tracked[-(MAX_TRACKED - 1):], case_id]


def get_tracked_case(reference: str) -> Case:
    """The case behind a reference, if this session proved it holds the tracking code; else 404."""
    try:
        case_id = int(reference.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        abort(404)
    if case_id not in session.get(TRACKED, []):
        abort(404)
    case = get_session().get(Case, case_id)
    if case is None or case.reference != reference:
        abort(404)
    return case


@blueprint.route("/track", methods=["GET", "POST"])
def track():
    form = TrackForm()
    db = get_session()
    limited = None
    # A malformed code is refused by the form and costs no lookup.
    if form.validate_on_submit():
        # Counted before the lookup, so many codes tried at once cannot all pass the limit.
        counted = abuse.hit(db, abuse.TRACK)
        limited = counted.limited
        if limited is None:
            case = find_by_code(db, form.code.data)
            if case is not None:
                # Only codes that match nothing count: guessing is nothing but misses, and a
                # resident opening their own case twenty times a day is never held back.
                abuse.forgive(db, counted)
                _remember_case(case.id)
                return redirect(url_for("citizen.tracked_case", reference=case.reference), 303)
            form.code.errors.append(_l("No report has this tracking code. Check it and try again."))
    tracked = []
    if session.get(TRACKED):
        tracked = db.scalars(
            select(Case).where(Case.id.in_(session[TRACKED])).order_by(Case.id.desc())).all()
    if limited is not None:
        notice = _("Too many tracking codes that match no report were entered from this device "
                   "or this network. Check your code and try again in about %(minutes)d "
                   "minutes.", minutes=limited.minutes)
        return (render_template("citizen/track.html", form=form, tracked=tracked, notice=notice),
                429, {"Retry-After": str(limited.retry_after)})
    status = 400 if form.errors else 200
    return render_template("citizen/track.html", form=form, tracked=tracked), status


# Said when the case changed between loading the page and sending a form: nothing was saved.
CHANGED_MEANWHILE = _l("Your report changed while you were writing. Nothing was saved; read the "
                       "page again and resend.")


def _answer_documents(case: Case) -> list[Attachment]:
    """The agency's documents that go with the answer the Front accepted: the reporter's to read.

    Documents of an answer still under review, or one the Front returned, stay with the staff.
    """
    return list(get_session().scalars(
        select(Attachment).join(Answer, Attachment.answer_id == Answer.id)
        .where(Attachment.case_id == case.id, Answer.case_id == case.id,
               Attachment.uploaded_by == "agency", Answer.review == "accepted")
        .order_by(Attachment.id)))


def _render_case(case: Case, status: int = 200, *, reply_form: ReplyForm | None = None,
                 rating_form: RatingForm | None = None, dispute_form: DisputeForm | None = None,
                 problem=None, problem_for: str | None = None):
    """The tracking page, with the form that failed (if any) and what went wrong.

    The forms that were not sent start empty, with the version of the case as it is now.
    """
    fresh = {"formdata": None, "version": case.version}
    awaiting_verdict = lifecycle.allowed(case, Actor.reporter(case.id), "rate")
    return render_template(
        "citizen/case.html", view=case_view(get_session(), case), case=case,
        documents=_answer_documents(case),
        reply_form=reply_form or ReplyForm(**fresh),
        awaiting_verdict=awaiting_verdict,
        window_open=awaiting_verdict and lifecycle.rating_window_open(case),
        rating_form=rating_form or RatingForm(**fresh),
        dispute_form=dispute_form or DisputeForm(**fresh),
        factor_labels=RATING_FACTOR_LABELS, score_labels=SCORE_LABELS,
        problem=problem, problem_for=problem_for), status


@blueprint.get("/track/<reference>")
def tracked_case(reference: str):
    return _render_case(get_tracked_case(reference))


@blueprint.post("/track/<reference>/reply")
def reply(reference: str):
    case = get_tracked_case(reference)
    form = ReplyForm()
    db = get_session()
    if form.validate_on_submit():
        try:
            lifecycle.provide_info(db, case, Actor.reporter(case.id), reply=form.reply.data,
                                   expected_version=to_int_or_none(form.version.data) or -1)
        except TransitionRefused as refused:
            db.rollback()
            form.reply.errors.append(refused.message)
        else:
            if commit_or_conflict(db):
                outbox.deliver_after_response(db)
                return redirect(url_for("citizen.tracked_case", reference=case.reference), 303)
            form.reply.errors.append(CHANGED_MEANWHILE)
            case = get_tracked_case(reference)
    return _render_case(case, 400, reply_form=form)


@blueprint.post("/track/<reference>/rate")
def rate(reference: str):
    form = RatingForm()

    def act(db, case, actor, expected_version):
        lifecycle.rate(db, case, actor, scores=form.scores(), comment=form.comment.data or "",
                       expected_version=expected_version)

    return _reporter_verdict(reference, "rate", form, act)


@blueprint.post("/track/<reference>/dispute")
def dispute(reference: str):
    form = DisputeForm()

    def act(db, case, actor, expected_version):
        lifecycle.dispute(db, case, actor, reason=form.reason.data or "",
                          expected_version=expected_version)

    return _reporter_verdict(reference, "dispute", form, act)


def _reporter_verdict(reference: str, action: str, form, act):
    """Rate or dispute the accepted answer: the reporter's last word on the case.

    A form with mistakes comes back with the messages next to its fields (400). Anything the
    lifecycle refuses (the window has ended, the case is not waiting for a verdict, the page
    is out of date) comes back with its message and nothing stored (409).
    """
    case = get_tracked_case(reference)
    db = get_session()
    form_of = {"rating_form" if action == "rate" else "dispute_form": form}
    offered = (lifecycle.allowed(case, Actor.reporter(case.id), action)
               and lifecycle.rating_window_open(case))
    # The fields are checked only while the form is offered: otherwise the lifecycle's refusal
    # (before it reads any field) says better why nothing can be sent.
    if offered and not form.validate_on_submit():
        return _render_case(case, 400, **form_of)
    # A page without a version is as out of date as one with an old version: no case has 0.
    expected_version = to_int_or_none(form.version.data) or 0
    try:
        act(db, case, Actor.reporter(case.id), expected_version)
    except StaleCase:
        db.rollback()
        return _refused(reference, action, form, CHANGED_MEANWHILE)
    except TransitionRefused as refused:
        db.rollback()
        return _refused(reference, action, form, refused.message)
    if not commit_or_conflict(db):
        return _refused(reference, action, form, CHANGED_MEANWHILE)
    outbox.deliver_after_response(db)
    return redirect(url_for("citizen.tracked_case", reference=case.reference,
                            _anchor="verdict"), 303)


def _refused(reference: str, action: str, form, message):
    """The page as the case is now, the reporter's form kept so it can be sent again."""
    case = get_tracked_case(reference)
    form.version.data = case.version
    form_of = {"rating_form" if action == "rate" else "dispute_form": form}
    return _render_case(case, 409, problem=message, problem_for=action, **form_of)


@blueprint.get("/track/<reference>/files/<id:attachment_id>")
def attachment(reference: str, attachment_id: int):
    case = get_tracked_case(reference)
    item = get_session().get(Attachment, attachment_id)
    mine = item is not None and item.case_id == case.id and item.uploaded_by == "reporter"
    return send_attachment(item if mine else None)


@blueprint.get("/track/<reference>/documents/<id:attachment_id>")
def document(reference: str, attachment_id: int):
    """A document of the agency's accepted answer; any other file is not the reporter's."""
    case = get_tracked_case(reference)
    return send_attachment(next((a for a in _answer_documents(case) if a.id == attachment_id),
                                None))


@blueprint.post("/track/forget")
def forget():
    session.pop(TRACKED, None)
    return redirect(url_for("citizen.track"), 303)
