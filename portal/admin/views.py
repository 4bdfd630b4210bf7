"""Administration pages. Thin: forms check input, `portal.admin.services` applies the rules.

Administrators manage everything; Front supervisors manage the deadline rules, the city's
holidays and the Front's canned replies.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from sqlalchemy import select

from portal import abuse, outbox
from portal.admin import services
from portal.admin.forms import (
    ActionForm,
    AgencyFilterForm,
    AgencyForm,
    AgencyNamesForm,
    BanForm,
    CannedReplyForm,
    HolidayForm,
    MembershipForm,
    MoveForm,
    RuleForm,
    UserFilterForm,
    UserForm,
)
from portal.admin.services import CANNED_PURPOSE_LABELS
from portal.auth.permissions import require_roles, staff
from portal.citizen.forms import to_int_or_none
from portal.db import get_session, utcnow
from portal.i18n import select_locale
from portal.models import (
    Agency,
    BannedContact,
    CannedReply,
    DeadlineRule,
    Holiday,
    OutboxMessage,
    User,
)
from portal.search import fold
from portal.seed import hanoi_communes
from portal.staffactions import store_form
from portal.vocab import (
    AGENCY_KIND_LABELS,
    DEADLINE_STAGE_LABELS,
    DEFAULT_DEADLINE_DAYS,
    ROLE_LABELS,
    AgencyKind,
    Role,
)

blueprint = Blueprint("admin", __name__)

ADMIN = (Role.ADMIN,)
# Deadline rules, holidays and canned replies apply to the whole city: administrators and the
# city Front committee's supervisors.
SETTINGS = (Role.ADMIN, Role.SUPERVISOR)


@blueprint.context_processor
def admin_labels():
    return {"agency_kind_labels": AGENCY_KIND_LABELS, "role_labels": ROLE_LABELS,
            "canned_purpose_labels": CANNED_PURPOSE_LABELS}


def _get(model, object_id: int):
    row = get_session().get(model, object_id)
    if row is None:
        abort(404)
    return row


def _after() -> int | None:
    return to_int_or_none(request.args.get("after"))


@blueprint.get("/")
@require_roles(*SETTINGS, city_front=True)
def index():
    return render_template("admin/index.html")


# -- agencies ---------------------------------------------------------------------------------


def _parent_choices(exclude: Agency | None = None, root: bool = False) -> dict:
    groups: dict = {None: [("", _("— none: the top of the tree —") if root
                                else _("— choose the agency it belongs to —"))]}
    by_kind: dict[str, list[Agency]] = {}
    for agency in services.parent_choices(get_session(), exclude):
        by_kind.setdefault(agency.kind, []).append(agency)
    for kind, label in AGENCY_KIND_LABELS.items():
        members = sorted(by_kind.get(kind, []), key=lambda a: fold(a.name))
        if members:
            groups[str(label)] = [(a.id, f"{a.name} ({a.code})") for a in members]
    return groups


def _ward_choices() -> list:
    return [("", _("— none: a city-level agency —"))] + [(c.code, c.name) for c in hanoi_communes()]


def _agency_form() -> AgencyForm:
    form = AgencyForm()
    form.parent_id.choices = _parent_choices()
    form.ward_code.choices = _ward_choices()
    return form


@blueprint.get("/agencies")
@require_roles(*ADMIN)
def agencies():
    filters = AgencyFilterForm(request.args)
    filters.validate()
    kind = filters.kind.data if filters.kind.data in AGENCY_KIND_LABELS else None
    search = filters.q.data if not filters.q.errors else None
    parent = to_int_or_none(request.args.get("parent"))
    page = services.list_agencies(get_session(), kind=kind, search=search, parent_id=parent,
                                  after=_after())
    parent_ids = {a.parent_id for a in page.items if a.parent_id}
    parents = {a.id: a for a in get_session().scalars(
        select(Agency).where(Agency.id.in_(parent_ids)))} if parent_ids else {}
    args = {k: v for k, v in (("kind", kind), ("q", search), ("parent", parent)) if v}
    return render_template("admin/agencies.html", filters=filters, page=page, parents=parents,
                           args=args)


@blueprint.route("/agencies/new", methods=["GET", "POST"])
@require_roles(*ADMIN)
def agency_new():
    form = _agency_form()
    if form.validate_on_submit():
        created: list[Agency] = []

        def add():
            created.append(services.add_agency(
                get_session(), code=form.code.data, name=form.name.data, name_en=form.name_en.data,
                kind=form.kind.data, parent_id=form.parent_id.data, ward_code=form.ward_code.data))

        if store_form(form, add):
            flash(_("The agency %(name)s was added.", name=created[0].name))
            return redirect(url_for("admin.agency", agency_id=created[0].id), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/agency_new.html", form=form), status


def _render_agency(agency: Agency, names: AgencyNamesForm | None = None,
                   move: MoveForm | None = None, status: int = 200):
    if names is None:
        names = AgencyNamesForm(formdata=None, obj=agency)
    if move is None:
        move = MoveForm(formdata=None, obj=agency)
    move.parent_id.choices = _parent_choices(exclude=agency,
                                             root=agency.kind == AgencyKind.CITY_COMMITTEE)
    db = get_session()
    return render_template("admin/agency.html", agency=agency, names=names, move=move,
                           units=services.units_of(db, agency),
                           parent=db.get(Agency, agency.parent_id) if agency.parent_id else None,
                           commune=_commune_name(agency.ward_code)), status


def _commune_name(ward_code: int | None) -> str | None:
    if ward_code is None:
        return None
    return next((c.name for c in hanoi_communes() if c.code == ward_code), str(ward_code))


@blueprint.get("/agencies/<id:agency_id>")
@require_roles(*ADMIN)
def agency(agency_id: int):
    return _render_agency(_get(Agency, agency_id))


@blueprint.post("/agencies/<id:agency_id>/rename")
@require_roles(*ADMIN)
def agency_rename(agency_id: int):
    agency = _get(Agency, agency_id)
    form = AgencyNamesForm()
    if form.validate_on_submit() and store_form(form, lambda: services.rename_agency(
            get_session(), agency, name=form.name.data, name_en=form.name_en.data)):
        flash(_("The agency was renamed."))
        return redirect(url_for("admin.agency", agency_id=agency.id), 303)
    return _render_agency(agency, names=form, status=400)


@blueprint.post("/agencies/<id:agency_id>/move")
@require_roles(*ADMIN)
def agency_move(agency_id: int):
    agency = _get(Agency, agency_id)
    form = MoveForm()
    form.parent_id.choices = _parent_choices(exclude=agency)
    if form.validate_on_submit() and store_form(form, lambda: services.move_agency(
            get_session(), agency, form.parent_id.data)):
        flash(_("The agency was moved in the tree."))
        return redirect(url_for("admin.agency", agency_id=agency.id), 303)
    return _render_agency(agency, move=form, status=400)


def _agency_activation(agency_id: int, active: bool):
    agency = _get(Agency, agency_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.set_agency_active(
            get_session(), agency, active)):
        flash(_("The agency was reactivated.") if active else
              _("The agency was deactivated: it no longer appears on the report form and "
                "cannot receive cases."))
        return redirect(url_for("admin.agency", agency_id=agency.id), 303)
    abort(400)


@blueprint.post("/agencies/<id:agency_id>/deactivate")
@require_roles(*ADMIN)
def agency_deactivate(agency_id: int):
    return _agency_activation(agency_id, False)


@blueprint.post("/agencies/<id:agency_id>/reactivate")
@require_roles(*ADMIN)
def agency_reactivate(agency_id: int):
    return _agency_activation(agency_id, True)


# -- users and roles --------------------------------------------------------------------------


def _organisation(user: User) -> str:
    if user.agency is not None:
        return user.agency.code
    if user.front_committee is not None:
        return user.front_committee.code
    return ""


@blueprint.get("/users")
@require_roles(*ADMIN)
def users():
    filters = UserFilterForm(request.args)
    filters.validate()
    role = filters.role.data if filters.role.data in ROLE_LABELS else None
    search = filters.q.data if not filters.q.errors else None
    page = services.list_users(get_session(), role=role, search=search, after=_after())
    args = {k: v for k, v in (("role", role), ("q", search)) if v}
    return render_template("admin/users.html", filters=filters, page=page, args=args,
                           organisation=_organisation)


@blueprint.route("/users/new", methods=["GET", "POST"])
@require_roles(*ADMIN)
def user_new():
    form = UserForm()
    if form.validate_on_submit():
        created: list[User] = []

        def add():
            created.append(services.add_user(
                get_session(), email=form.email.data, name=form.name.data, role=form.role.data,
                org_code=form.org_code.data, password=form.password.data))

        if store_form(form, add):
            flash(_("The account %(email)s was created. Give the person the temporary password "
                    "by a safe channel; they should change it when they first sign in.",
                    email=created[0].email))
            return redirect(url_for("admin.user", user_id=created[0].id), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/user_new.html", form=form,
                           org_codes=services.organisation_codes(get_session())), status


def _render_user(user: User, membership: MembershipForm | None = None, status: int = 200,
                 action: ActionForm | None = None):
    """The user's page; `action` carries the reason a button was refused, if one was."""
    if membership is None:
        membership = MembershipForm(formdata=None, role=user.role, org_code=_organisation(user))
    return render_template("admin/user.html", user=user, membership=membership,
                           action=action or ActionForm(), organisation=_organisation(user),
                           org_codes=services.organisation_codes(get_session()),
                           is_self=user.id == staff().id), status


@blueprint.get("/users/<id:user_id>")
@require_roles(*ADMIN)
def user(user_id: int):
    return _render_user(_get(User, user_id))


@blueprint.post("/users/<id:user_id>/role")
@require_roles(*ADMIN)
def user_role(user_id: int):
    user = _get(User, user_id)
    form = MembershipForm()
    if form.validate_on_submit() and store_form(form, lambda: services.change_membership(
            get_session(), user, staff(), role=form.role.data, org_code=form.org_code.data)):
        flash(_("The role of %(email)s was changed.", email=user.email))
        return redirect(url_for("admin.user", user_id=user.id), 303)
    return _render_user(user, membership=form, status=400)


@blueprint.post("/users/<id:user_id>/deactivate")
@require_roles(*ADMIN)
def user_deactivate(user_id: int):
    user = _get(User, user_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.deactivate_user(
            get_session(), user, staff())):
        flash(_("The account %(email)s was deactivated and its sessions ended.", email=user.email))
        return redirect(url_for("admin.user", user_id=user.id), 303)
    return _render_user(user, action=form, status=400)


@blueprint.post("/users/<id:user_id>/reactivate")
@require_roles(*ADMIN)
def user_reactivate(user_id: int):
    user = _get(User, user_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.reactivate_user(
            get_session(), user)):
        flash(_("The account %(email)s was reactivated.", email=user.email))
        return redirect(url_for("admin.user", user_id=user.id), 303)
    return _render_user(user, action=form, status=400)


# -- deadline rules ---------------------------------------------------------------------------


@blueprint.get("/rules")
@require_roles(*SETTINGS, city_front=True)
def rules():
    return render_template("admin/rules.html", rules=services.list_rules(get_session()),
                           stages=DEADLINE_STAGE_LABELS, defaults=DEFAULT_DEADLINE_DAYS)


def _save_rule(form: RuleForm, rule: DeadlineRule | None) -> bool:
    return store_form(form, lambda: services.save_rule(
        get_session(), rule, stage=form.stage.data, conduct=form.conduct.data or None,
        sector=form.sector.data or None, working_days=form.working_days.data))


@blueprint.route("/rules/new", methods=["GET", "POST"])
@require_roles(*SETTINGS, city_front=True)
def rule_new():
    form = RuleForm()
    if form.validate_on_submit() and _save_rule(form, None):
        flash(_("The deadline rule was added."))
        return redirect(url_for("admin.rules"), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/rule_form.html", form=form, rule=None), status


@blueprint.route("/rules/<id:rule_id>", methods=["GET", "POST"])
@require_roles(*SETTINGS, city_front=True)
def rule_edit(rule_id: int):
    rule = _get(DeadlineRule, rule_id)
    form = RuleForm(obj=rule)
    if form.validate_on_submit() and _save_rule(form, rule):
        flash(_("The deadline rule was changed."))
        return redirect(url_for("admin.rules"), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/rule_form.html", form=form, rule=rule), status


@blueprint.post("/rules/<id:rule_id>/delete")
@require_roles(*SETTINGS, city_front=True)
def rule_delete(rule_id: int):
    rule = _get(DeadlineRule, rule_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.delete_rule(get_session(), rule)):
        flash(_("The deadline rule was deleted; the next most specific rule or the default applies."))
        return redirect(url_for("admin.rules"), 303)
    abort(400)


# -- holidays ---------------------------------------------------------------------------------


def _render_holidays(form: HolidayForm, status: int = 200):
    coming, past = services.list_holidays(get_session())
    return render_template("admin/holidays.html", form=form, coming=coming, past=past,
                           national=services.national_holiday,
                           language=select_locale()), status


@blueprint.get("/holidays")
@require_roles(*SETTINGS, city_front=True)
def holidays():
    return _render_holidays(HolidayForm(formdata=None))


@blueprint.post("/holidays")
@require_roles(*SETTINGS, city_front=True)
def holiday_add():
    form = HolidayForm()
    if form.validate_on_submit() and store_form(form, lambda: services.add_holiday(
            get_session(), day=form.day.data, name=form.name.data)):
        flash(_("The day off was added: deadlines that reach it now skip it."))
        national = services.national_holiday(form.day.data, select_locale())
        if national:
            flash(_("Note: this date is already a national holiday (%(name)s), so adding it "
                    "changes no deadline.", name=national))
        return redirect(url_for("admin.holidays"), 303)
    return _render_holidays(form, status=400)


@blueprint.post("/holidays/<id:holiday_id>/delete")
@require_roles(*SETTINGS, city_front=True)
def holiday_delete(holiday_id: int):
    holiday = _get(Holiday, holiday_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.delete_holiday(
            get_session(), holiday)):
        flash(_("The day off was removed."))
        return redirect(url_for("admin.holidays"), 303)
    abort(400)


# -- canned replies ---------------------------------------------------------------------------


@blueprint.get("/replies")
@require_roles(*SETTINGS, city_front=True)
def replies():
    return render_template("admin/replies.html",
                           replies=services.list_canned_replies(get_session()))


def _save_reply(form: CannedReplyForm, reply: CannedReply | None) -> bool:
    return store_form(form, lambda: services.save_canned_reply(
        get_session(), reply, purpose=form.purpose.data, title=form.title.data,
        body=form.body.data))


@blueprint.route("/replies/new", methods=["GET", "POST"])
@require_roles(*SETTINGS, city_front=True)
def reply_new():
    form = CannedReplyForm()
    if form.validate_on_submit() and _save_reply(form, None):
        flash(_("The canned reply was added."))
        return redirect(url_for("admin.replies"), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/reply_form.html", form=form, reply=None), status


@blueprint.route("/replies/<id:reply_id>", methods=["GET", "POST"])
@require_roles(*SETTINGS, city_front=True)
def reply_edit(reply_id: int):
    reply = _get(CannedReply, reply_id)
    form = CannedReplyForm(obj=reply)
    if form.validate_on_submit() and _save_reply(form, reply):
        flash(_("The canned reply was changed."))
        return redirect(url_for("admin.replies"), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("admin/reply_form.html", form=form, reply=reply), status


def _reply_activation(reply_id: int, active: bool):
    reply = _get(CannedReply, reply_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: services.set_canned_reply_active(
            get_session(), reply, active)):
        flash(_("The canned reply was reactivated.") if active else
              _("The canned reply was deactivated: moderators no longer see it."))
        return redirect(url_for("admin.replies"), 303)
    abort(400)


@blueprint.post("/replies/<id:reply_id>/deactivate")
@require_roles(*SETTINGS, city_front=True)
def reply_deactivate(reply_id: int):
    return _reply_activation(reply_id, False)


@blueprint.post("/replies/<id:reply_id>/reactivate")
@require_roles(*SETTINGS, city_front=True)
def reply_reactivate(reply_id: int):
    return _reply_activation(reply_id, True)


# -- background jobs: the outbox --------------------------------------------------------------


@blueprint.get("/outbox")
@require_roles(*ADMIN)
def failed_jobs():
    """What waits in the outbox, and the jobs that failed for good, each with its last error."""
    db = get_session()
    backlog = outbox.backlog(db)
    oldest_age = (format_timedelta(utcnow() - backlog.oldest_pending)
                  if backlog.oldest_pending else None)
    return render_template("admin/outbox.html", backlog=backlog, oldest_age=oldest_age,
                           page=services.failed_outbox_page(db, after=_after()), args={})


@blueprint.post("/outbox/<id:message_id>/replay")
@require_roles(*ADMIN)
def replay_job(message_id: int):
    _get(OutboxMessage, message_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    db = get_session()
    replayed = outbox.replay(db, message_id)
    db.commit()
    if replayed:
        # At once rather than at the relay's next run; if the cause is still there, it fails
        # again and waits for its retries as before.
        outbox.hand_out_after_response([message_id])
        flash(_("The job was put back in the outbox with a fresh set of attempts; it runs "
                "again in a moment."))
    else:
        flash(_("This job is no longer failed: nothing was changed."))
    return redirect(url_for("admin.failed_jobs", after=_after()), 303)


# -- banned contacts --------------------------------------------------------------------------


def _render_bans(form: BanForm, status: int = 200):
    db = get_session()
    rows, next_after = abuse.bans_page(db, _after())
    author_ids = {row.created_by_id for row in rows if row.created_by_id}
    authors = ({u.id: u for u in db.scalars(select(User).where(User.id.in_(author_ids)))}
               if author_ids else {})
    return render_template("admin/banned_contacts.html", form=form, authors=authors,
                           page=services.Page(rows, next_after), args={}), status


@blueprint.get("/banned-contacts")
@require_roles(*ADMIN)
def banned_contacts():
    return _render_bans(BanForm(formdata=None))


@blueprint.post("/banned-contacts")
@require_roles(*ADMIN)
def banned_contact_add():
    form = BanForm()
    added: list[BannedContact] = []

    def add():
        db = get_session()
        if abuse.is_on_list(db, form.contact.data):
            raise services.Refused(_("This contact is already on the list."), field="contact")
        added.append(abuse.ban(db, form.contact.data, form.reason.data, staff()))

    if form.validate_on_submit() and store_form(form, add):
        flash(_("%(contact)s is on the list: reports that give it are refused from now on.",
                contact=added[0].hint))
        return redirect(url_for("admin.banned_contacts"), 303)
    return _render_bans(form, status=400)


@blueprint.post("/banned-contacts/<id:ban_id>/delete")
@require_roles(*ADMIN)
def banned_contact_delete(ban_id: int):
    row = _get(BannedContact, ban_id)
    form = ActionForm()
    if form.validate_on_submit() and store_form(form, lambda: abuse.lift(get_session(), row,
                                                                         staff())):
        flash(_("%(contact)s was taken off the list: reports that give it are taken again.",
                contact=row.hint))
        return redirect(url_for("admin.banned_contacts"), 303)
    abort(400)


# -- Open311 API keys: their own module, on this blueprint ------------------------------------

from portal.admin import apikeys as _apikeys  # noqa: E402, F401
