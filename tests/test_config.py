"""Settings: a bad or missing one stops start-up with a message that names it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portal import ROOT
from portal.config import ConfigError, load_settings

GOOD = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "k" * 40,
    "MAIL_URL": "smtp://mail.example.org:587",
    "BASE_URL": "https://phananh.hanoi.gov.vn",
}


def test_production_settings_are_read_from_the_environment(tmp_path):
    settings = load_settings(tmp_path, {**GOOD, "DATABASE_URL": "postgresql+psycopg://u@db/portal",
                                        "REDIS_URL": "redis://cache:6379/0",
                                        "UPLOAD_DIR": str(tmp_path / "files")})
    assert settings.database_url == "postgresql+psycopg://u@db/portal"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.upload_dir == tmp_path / "files" and settings.upload_dir.is_dir()
    assert not settings.development


def test_a_plain_postgresql_url_uses_the_shipped_driver(tmp_path):
    settings = load_settings(tmp_path, {**GOOD, "DATABASE_URL": "postgresql://u:p@db/portal"})
    assert settings.database_url == "postgresql+psycopg://u:p@db/portal"


def test_development_needs_nothing(tmp_path):
    settings = load_settings(tmp_path, {"PORTAL_ENV": "development"})
    assert settings.database_url == f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    assert settings.redis_url is None
    # The generated key survives a restart, so sessions do too.
    assert load_settings(tmp_path, {"PORTAL_ENV": "development"}).secret_key == settings.secret_key


@pytest.mark.parametrize(("change", "named"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"PORTAL_ENV": "staging"}, "PORTAL_ENV"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
    ({"DATABASE_URL": "postgresql+psycopg2://u@h/db"}, "psycopg"),
    ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
    ({"MAIL_URL": ""}, "MAIL_URL"),
    ({"MAIL_URL": "mailto:x@y"}, "MAIL_URL"),
    ({"BASE_URL": "http://phananh.hanoi.gov.vn"}, "BASE_URL"),
    ({"BASE_URL": "phananh"}, "BASE_URL"),
    ({"UPLOAD_DIR": "/proc/no-such-place/uploads"}, "UPLOAD_DIR"),
])
def test_a_bad_setting_is_named(tmp_path, change, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(tmp_path, {**GOOD, **change})


def test_the_entry_point_exits_with_a_clear_message(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PORTAL_ENV": "production"}
    result = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "The portal cannot start: SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr
