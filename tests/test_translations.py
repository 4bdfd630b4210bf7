"""The Vietnamese catalog is complete: every message in the sources is translated, with its placeholders.

The messages are extracted afresh from the sources with babel.cfg (as `pybabel extract` does), so a
string added to a template or a .py file without a Vietnamese translation fails here, by name. To fix
such a failure, update the catalogs (the commands are at the top of babel.cfg):

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot .
    .venv/bin/pybabel update -i portal/translations/messages.pot -d portal/translations
    (translate the new and fuzzy entries of portal/translations/vi/LC_MESSAGES/messages.po)
    .venv/bin/pybabel compile -d portal/translations
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from markupsafe import escape

from portal.i18n import LANGUAGES
from portal.vocab import DEFAULT_DEADLINE_DAYS, DeadlineStage

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "portal" / "translations"
# The same keywords as `pybabel extract -k _l -k lazy_gettext` (babel.cfg adds its own per section).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
SKIPPED_DIRS = {"venv", "node_modules"}

# A %-placeholder as Python formats it (`%(name)s`, `%(num)d`, `%s`), a literal `%%`, or a stray `%`.
PERCENT = re.compile(r"%(?:\(\w+\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]|%")


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(po: Path) -> Catalog:
    with po.open("rb") as fh:
        return read_po(fh, locale=po.parent.parent.name)


def _compile(po: Path) -> None:
    """Write the .mo next to the .po, atomically: another process may be reading it."""
    catalog = read_catalog(po)
    fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, po.with_suffix(".mo"))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs():
    """The app reads compiled catalogs: build any .mo that is missing or older than its .po.

    `make install` compiles them too; this keeps `pytest` alone working on a fresh checkout.
    """
    compiled = False
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            _compile(po)
            compiled = True
    if compiled:
        # Flask-Babel keeps loaded catalogs for the life of the process, across apps: an earlier
        # test may have cached the catalog as it was before it was compiled.
        # (`domain_instance` is created, with its cache, by the first request that translates.)
        from portal.extensions import babel

        domain = vars(babel).get("domain_instance")
        if domain is not None:
            domain.cache.clear()


def _wanted_dir(dirpath: str) -> bool:
    name = os.path.basename(dirpath)
    return not name.startswith((".", "_")) and name not in SKIPPED_DIRS


@pytest.fixture(scope="module")
def fresh_template(tmp_path_factory) -> Catalog:
    """The messages in the sources now, extracted with babel.cfg into a temporary .pot."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    template = Catalog(fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, directory_filter=_wanted_dir,
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    with pot.open("wb") as fh:
        write_po(fh, template)
    # Read back, so that messages are compared as `pybabel update` would see them.
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def vi() -> Catalog:
    return read_catalog(po_path("vi"))


def _where(message) -> str:
    return ", ".join(f"{file}:{line}" for file, line in message.locations) or "?"


def _forms(string) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


def _placeholders(text: str) -> Counter:
    return Counter(token for token in PERCENT.findall(text) if token != "%%")


def test_the_extraction_finds_the_sources(fresh_template):
    files = {file for message in fresh_template for file, _line in message.locations}
    assert any(f.startswith("templates/") and f.endswith(".html") for f in files)
    assert any(f.startswith("templates/") and f.endswith(".txt") for f in files)
    assert "portal/vocab.py" in files  # lazy_gettext, imported as _l
    assert "portal/citizen/views.py" in files  # gettext, imported as _
    assert not any(f.startswith((".venv", "tests/")) for f in files)
    assert any(message.pluralizable for message in fresh_template)  # ngettext


def test_every_language_has_a_catalog():
    for lang in LANGUAGES:
        assert po_path(lang).exists(), f"no catalog for {lang}: pybabel init -l {lang}"
        assert po_path(lang).with_suffix(".mo").exists()


def test_every_message_in_the_sources_is_translated_into_vietnamese(fresh_template, vi):
    assert not vi.fuzzy, "the vi catalog's header is marked fuzzy: pybabel compile would skip it"
    problems = []
    for message in fresh_template:
        if not message.id:
            continue
        translated = vi.get(message.id, message.context)
        if translated is None:
            problems.append(f"not in the catalog (run pybabel update): {message.id!r} at {_where(message)}")
        elif translated.fuzzy:
            problems.append(f"fuzzy: {message.id!r} at {_where(message)}")
        elif message.pluralizable and not translated.pluralizable:
            problems.append(f"plural forms missing: {message.id!r} at {_where(message)}")
        elif not all(form.strip() for form in _forms(translated.string)):
            problems.append(f"not translated: {message.id!r} at {_where(message)}")
    assert not problems, "Vietnamese catalog incomplete:\n" + "\n".join(problems)


def test_every_message_in_the_sources_is_in_the_english_catalog(fresh_template):
    """English is the language of the sources: an entry's empty translation means the msgid itself,
    so the English catalog is complete when it holds every message, none of them fuzzy."""
    en = read_catalog(po_path("en"))
    problems = []
    for message in fresh_template:
        if not message.id:
            continue
        entry = en.get(message.id, message.context)
        if entry is None:
            problems.append(f"not in the catalog (run pybabel update): {message.id!r} at {_where(message)}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {message.id!r} at {_where(message)}")
    assert not problems, "English catalog incomplete:\n" + "\n".join(problems)


def test_vietnamese_keeps_every_placeholder(vi):
    problems = []
    for message in vi:
        if not message.id or not message.string:
            continue
        ids = _forms(message.id)
        for form in _forms(message.string):
            expected = [_placeholders(i) for i in ids]
            if _placeholders(form) not in expected:
                problems.append(f"{message.id!r}: {dict(_placeholders(form))} in {form!r}, "
                                f"expected {' or '.join(str(dict(e)) for e in expected)}")
    assert not problems, "\n".join(problems)


def test_babel_finds_no_error_in_the_vietnamese_catalog(vi):
    errors = [(message.id, [str(e) for e in errs]) for message, errs in vi.check()]
    assert not errors


@pytest.mark.parametrize(("msgid", "phrase"), [
    ("Write this code down or save this page now.", "Hãy ghi lại mã này hoặc lưu trang này ngay."),
    ("Please check the fields marked below. For your safety the files you chose were not kept: "
     "attach them again before sending.", "đính kèm lại"),
])
def test_phrases_the_citizen_tests_rely_on(vi, msgid, phrase):
    assert phrase in vi.get(msgid).string


def test_the_home_page_speaks_vietnamese_then_english(client, vi):
    report_vi = vi.get("Report an agency").string  # a template string
    shirking_vi = vi.get("Shirking the work").string  # a lazy_gettext label from portal/vocab.py
    days = DEFAULT_DEADLINE_DAYS[DeadlineStage.TRIAGE]
    within = vi.get("within %(num)d working day").string  # ngettext
    within_vi = _forms(within)[0] % {"num": days}

    html = client.get("/").get_data(as_text=True)
    assert 'lang="vi"' in html
    for phrase in (report_vi, shirking_vi, within_vi):
        assert str(escape(phrase)) in html, phrase
    assert "Report an agency" not in html

    client.get("/lang/en")
    html = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in html
    assert "Report an agency" in html
    assert "Shirking the work" in html
    assert f"within {days} working days" in html
    assert str(escape(report_vi)) not in html
