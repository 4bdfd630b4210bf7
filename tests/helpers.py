"""Small helpers the HTTP tests share."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

CODE_PAGE = "/login/code"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


class AuthActions:
    """Signing staff in and out through the real sign-in form, as in Flask's tutorial."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str):
        """The password, then, when the portal asks for it, the code from the user's app.

        Returns the last answer: a 303 to the user's home once signed in.
        """
        html = self.client.get("/login").get_data(as_text=True)
        response = self.client.post("/login", data={"csrf_token": csrf_of(html), "email": email,
                                                    "password": password})
        if response.status_code == 303 and urlsplit(response.headers["Location"]).path == CODE_PAGE:
            return self.give_code(self.code_for(email), response.headers["Location"])
        return response

    def give_code(self, code: str, page: str = "/login/code"):
        """The second step of sign-in, as a person types the code."""
        html = self.client.get(page).get_data(as_text=True)
        return self.client.post(page, data={"csrf_token": csrf_of(html), "code": code})

    def code_for(self, email: str) -> str:
        """What the user's authenticator app shows now, for a step the portal has not seen yet.

        A code works once per 30-second step; a test that signs one user in again and again
        moves the last accepted step back instead of waiting, as half a minute would.
        """
        from sqlalchemy import func, select

        from portal.auth import totp
        from portal.db import new_session
        from portal.models import User

        with self.client.application.app_context():
            session = new_session()
            try:
                user = session.scalars(select(User).where(
                    func.lower(User.email) == email.strip().lower())).one()
                key = totp.unseal(user.totp_secret, user.id)
                assert key is not None, f"{email} has no second factor"
                now = totp.current_step()
                last = user.totp_last_step
                if last is not None and last >= now + totp.DRIFT_STEPS:
                    user.totp_last_step = last = now - totp.DRIFT_STEPS
                    session.commit()
                step = now if last is None or last < now else last + 1
                return totp.code_for_step(key, step)
            finally:
                session.close()

    def logout(self):
        html = self.client.get("/").get_data(as_text=True)
        return self.client.post("/logout", data={"csrf_token": csrf_of(html)})

    def post(self, path: str, data: dict | None = None, page: str | None = None):
        """POST a form the way a browser does: with the CSRF token of the page it came from."""
        html = self.client.get(page or "/").get_data(as_text=True)
        return self.client.post(path, data={"csrf_token": csrf_of(html), **(data or {})})
