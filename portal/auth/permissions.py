"""Who may open which staff page. Each check ends in `abort` or a redirect to sign in."""

from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from portal.lifecycle import Actor
from portal.models import User
from portal.vocab import FRONT_ROLES


def require_roles(*roles: str, city_front: bool = False):
    """Only signed-in staff with one of `roles`; others are sent to sign in (or refused, 403).

    With `city_front`, Front staff must belong to the city committee: what applies to the
    whole city is not for one commune's committee to change.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.sign_in", next=request.full_path))
            if current_user.role not in roles:
                abort(403)
            if city_front and current_user.role in FRONT_ROLES and not (
                    current_user.front_committee and current_user.front_committee.is_city):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def staff() -> User:
    return current_user._get_current_object()


def staff_actor() -> Actor:
    return Actor.staff(staff())
