"""Running a staff member's action on a case from a form, the same way on every staff page.

The form is checked, the lifecycle function runs with the version the page was built on,
and the change is committed once: any refusal or a colleague's concurrent change comes back
as the case page with the form, its errors and what went wrong, and nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from portal import lifecycle, outbox
from portal.auth.permissions import staff_actor
from portal.db import commit_or_conflict, get_session
from portal.lifecycle import TransitionRefused
from portal.models import Case
from portal.vocab import EVENT_LABELS

SAME_MOMENT = _l("Someone changed the same data at the same moment. Check the page and try again.")
CONFLICT = _l("Someone else changed this case while you were looking at it. Nothing was saved; "
              "look at it again and decide.")

# Shows the case page again: (case, action, form, status, message) -> response.
PageWith = Callable[..., object]


def page_again(case: Case, form, status: int) -> None:
    """After a conflict (409) the page shows the case as it is now, so the form takes its
    version; after a mistake in the form (400) it keeps the version it was sent with."""
    if status == 409:
        form.version.data = case.version


def perform(case_id: int, action: str, forms: dict, get_case: Callable[[int], Case],
            page_with: PageWith, endpoint: str, prepare: Callable | None = None):
    """Run `action` on the case from its form. `prepare(case, form)` may return a response
    (a problem with what was sent) or a function that makes the change and returns False on
    a concurrent change; by default the change is the lifecycle's function of that name."""
    form_class = forms.get(action) or abort(404)
    db = get_session()
    case = get_case(case_id)
    form = form_class()
    if not form.validate_on_submit():
        return page_with(case, action, form, 400)
    change = prepare(case, form) if prepare else None
    if change is not None and not callable(change):
        return change
    change = change or (lambda: lifecycle.ACTIONS[action](
        db, case, staff_actor(), **form.arguments(), expected_version=form.expected_version()))
    try:
        changed = change()
    except TransitionRefused as refused:
        db.rollback()
        return page_with(get_case(case_id), action, form, 409, refused.message)
    if changed is False or not commit_or_conflict(db):
        db.rollback()
        return page_with(get_case(case_id), action, form, 409, CONFLICT)
    outbox.deliver_after_response(db)
    flash(_("Done: %(what)s.", what=str(EVENT_LABELS.get(action, action))))
    return redirect(url_for(endpoint, case_id=case_id), 303)


def store_form(form, action: Callable[[], object]) -> bool:
    """Run `action` and commit all of it, or store nothing and put the reason on the form.

    `action` raises `portal.admin.services.Refused` (with the field it concerns) for what the
    rules refuse; a concurrent change shows as a message at the top of the form.
    """
    from portal.admin.services import Refused

    db = get_session()
    try:
        action()
    except Refused as refusal:
        db.rollback()
        field = form._fields.get(refusal.field) if refusal.field else None
        if field is not None:
            field.errors = [*field.errors, refusal.message]
        else:
            form.form_errors.append(refusal.message)
        return False
    except IntegrityError:
        db.rollback()
        form.form_errors.append(str(SAME_MOMENT))
        return False
    if not commit_or_conflict(db):
        form.form_errors.append(str(SAME_MOMENT))
        return False
    outbox.deliver_after_response(db)
    return True
