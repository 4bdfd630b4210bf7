"""What every part of the benchmark shares: where things run, the environment, tracking codes.

The benchmark owns a PostgreSQL database of its own (`bench`, dropped and created by each
seeding), a Redis database number of its own (9) and a scratch directory; it never touches
the `test` database or the development SQLite file.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from portal.receipts import CODE_LENGTH, TRACKING_ALPHABET

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent

SERVER_URL = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_DB", "bench")
DATABASE_URL = f"{SERVER_URL}/{DATABASE}"
# psycopg's own form of the same address, for COPY.
LIBPQ_URL = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/9")
SCRATCH = Path(os.environ.get("BENCH_SCRATCH", Path(tempfile.gettempdir()) / "portal-bench"))

PORTAL_PORT = int(os.environ.get("BENCH_PORT", "8931"))
BARE_PORT = PORTAL_PORT + 1

# Not a secret: the benchmark's own key, for the benchmark's own throwaway database.
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
PASSWORD = "bench-password-2026"  # noqa: S105 - every seeded staff account's
MODERATOR = "moderator@bench.example.org"  # the city Front committee's
AGENCY_HEAD = "head.so-xd@bench.example.org"  # the Department of Construction's
AGENCY_CODE = "SO-XD"

# The production settings of the README: `gunicorn --workers 4 --bind ... app:app`, sync
# workers, no access log. The bare ceilings run under exactly these.
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
GUNICORN_ARGS = ["--workers", str(GUNICORN_WORKERS), "--worker-class", "sync",
                 "--timeout", "120", "--graceful-timeout", "10", "--backlog", "2048"]


def environment(**extra: str) -> dict[str, str]:
    """The environment of the portal under test: production, behind one trusted proxy."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PORTAL_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "MAIL_URL": f"file://{SCRATCH / 'mail'}",
        "UPLOAD_DIR": str(SCRATCH / "uploads"),
        "BASE_URL": "https://portal.bench.example.org",
        # As behind nginx: each simulated resident comes from an address of its own, given in
        # X-Forwarded-For, so per-client limits see many clients rather than one.
        "TRUSTED_PROXIES": "1",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def raw_tracking_code(case_id: int) -> str:
    """A seeded case's tracking code, as `receipts.normalise_tracking_code` leaves it.

    Derived from the case's id, so the load generator knows the code of any seeded case.
    """
    number = int.from_bytes(hashlib.sha256(b"portal-bench:%d" % case_id).digest(), "big")
    symbols = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(TRACKING_ALPHABET))
        symbols.append(TRACKING_ALPHABET[digit])
    return "".join(symbols)


def tracking_code(case_id: int) -> str:
    """The same code as a reporter writes it: ABCD-EFGH-JKMN-PQRS."""
    raw = raw_tracking_code(case_id)
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))
