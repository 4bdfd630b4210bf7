"""Small helpers the HTTP tests share."""

from __future__ import annotations

import re

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
        html = self.client.get("/login").get_data(as_text=True)
        return self.client.post("/login", data={"csrf_token": csrf_of(html), "email": email,
                                                "password": password})

    def logout(self):
        html = self.client.get("/").get_data(as_text=True)
        return self.client.post("/logout", data={"csrf_token": csrf_of(html)})

    def post(self, path: str, data: dict | None = None, page: str | None = None):
        """POST a form the way a browser does: with the CSRF token of the page it came from."""
        html = self.client.get(page or "/").get_data(as_text=True)
        return self.client.post(path, data={"csrf_token": csrf_of(html), **(data or {})})
