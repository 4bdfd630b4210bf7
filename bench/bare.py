"""The ceilings: a bare Flask app served by gunicorn with exactly the portal's settings.

`GET /constant` returns a constant; `POST /insert` stores one row of its form in a table of
its own (one statement, one commit, through a SQLAlchemy session on an engine built by
`portal.db.make_engine`, the portal's own pool settings). What the portal does per request
is measured against these two.
"""

from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench import common
from portal.db import make_engine

TABLE = "bench_bare_rows"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, payload text NOT NULL, "
          "created_at timestamp NOT NULL DEFAULT now())")

app = Flask(__name__)
engine = make_engine(os.environ.get("DATABASE_URL", common.DATABASE_URL))


@app.get("/constant")
def constant():
    return "ok"


@app.post("/insert")
def insert():
    with Session(engine) as session:
        session.execute(text(f"INSERT INTO {TABLE} (payload) VALUES (:payload)"),  # noqa: S608
                        {"payload": request.form.get("payload", "")})
        session.commit()
    return "stored", 201
