"""Open311 API keys: administrators issue a key to a client, see when it was last used, revoke it.

A new key is shown once, on the page that answers the form that made it; only its SHA-256
and its first characters are stored (see `portal.open311.keys`).
"""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import StringField
from wtforms.validators import DataRequired

from portal.admin.forms import TEXT, ActionForm
from portal.admin.services import PAGE_SIZE, Page
from portal.admin.views import ADMIN, blueprint
from portal.auth.permissions import require_roles, staff
from portal.citizen.forms import at_most, plain_text, to_int_or_none
from portal.db import get_session
from portal.models import ApiKey
from portal.open311 import keys

log = logging.getLogger(__name__)


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Client name"), **TEXT, validators=[
        DataRequired(_l("Enter the name of the app or organisation the key is for.")),
        plain_text, at_most(200)])


def keys_page(session: Session, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of keys, newest first: `after` is the last id shown."""
    query = select(ApiKey).order_by(ApiKey.id.desc()).limit(size + 1)
    if after:
        query = query.where(ApiKey.id < after)
    rows = list(session.scalars(query))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].id if more else None)


def _render(form: ApiKeyForm, new_key: str | None = None, issued: ApiKey | None = None,
            status: int = 200):
    after = to_int_or_none(request.args.get("after"))
    return render_template("admin/apikeys.html", form=form, new_key=new_key, issued=issued,
                           page=keys_page(get_session(), after), args={}), status


@blueprint.get("/apikeys")
@require_roles(*ADMIN)
def api_keys():
    return _render(ApiKeyForm(formdata=None))


@blueprint.post("/apikeys")
@require_roles(*ADMIN)
def api_key_new():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _render(form, status=400)
    db = get_session()
    row, key = keys.issue(db, form.name.data, staff())
    db.commit()
    log.info("Open311 API key %s (%s) issued by user %s", row.id, row.prefix, staff().id)
    # Shown on this page only, never stored: no redirect, and the page is not cached.
    return _render(ApiKeyForm(formdata=None), new_key=key, issued=row, status=201)


@blueprint.post("/apikeys/<id:key_id>/revoke")
@require_roles(*ADMIN)
def api_key_revoke(key_id: int):
    db = get_session()
    row = db.get(ApiKey, key_id)
    if row is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    if keys.revoke(db, row):
        db.commit()
        log.info("Open311 API key %s (%s) revoked by user %s", row.id, row.prefix, staff().id)
        flash(_("The key %(prefix)s… of %(name)s was revoked: the client can no longer post "
                "reports with it.", prefix=row.prefix, name=row.name))
    else:
        flash(_("This key was already revoked: nothing was changed."))
    return redirect(url_for("admin.api_keys"), 303)
