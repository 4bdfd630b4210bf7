"""The dependency gate's verdict on pip-audit's JSON report (.ci/audit.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("ci_audit", Path(__file__).parents[1] / ".ci" / "audit.py")
ci_audit = importlib.util.module_from_spec(spec)
sys.modules["ci_audit"] = ci_audit  # dataclasses look their module up there
spec.loader.exec_module(ci_audit)


def test_a_known_vulnerability_fails_the_gate():
    verdict = ci_audit.judge({"dependencies": [
        {"name": "flask", "version": "3.1.0", "vulns": []},
        {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95"}]},
    ]})
    assert verdict.vulnerable == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95"]
    assert verdict.exit_code(require_audit=False) == 1


def test_every_pin_audited_and_clean_passes():
    verdict = ci_audit.judge({"dependencies": [{"name": "flask", "version": "3.1.0", "vulns": []}]})
    assert verdict.exit_code(require_audit=True) == 0


def test_a_pin_left_unaudited_beside_audited_ones_fails():
    verdict = ci_audit.judge({"dependencies": [
        {"name": "flask", "version": "3.1.0", "vulns": []},
        {"name": "private-thing", "skip_reason": "Dependency not found on PyPI"},
    ]})
    assert verdict.exit_code(require_audit=False) == 1


def test_no_service_at_all_passes_only_when_an_audit_is_not_required():
    verdict = ci_audit.judge({"dependencies": [
        {"name": "flask", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]})
    assert verdict.exit_code(require_audit=False) == 0
    assert verdict.exit_code(require_audit=True) == 1
