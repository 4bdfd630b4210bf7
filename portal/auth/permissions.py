"""Who may open which staff page. Each check ends in `abort` or a redirect to sign in."""

from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user

from portal.lifecycle import Actor
from portal.models import User


def require_roles(*roles: str):
    """Only signed-in staff with one of `roles`; others are sent to sign in (or refused, 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.sign_in", next=request.full_path))
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def staff() -> User:
    return current_user._get_current_object()


def staff_actor() -> Actor:
    return Actor.staff(staff())
