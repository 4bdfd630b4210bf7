#!/usr/bin/env python3
"""The dependency gate: pip-audit over the pinned dependencies in requirements.lock.

Fails on any known vulnerability. pip-audit asks a vulnerability service (PyPI's JSON API
by default) about each pin; a pin it could not ask about is "not audited", which is not
the same as "safe". When the service answers for none of the pins (a machine without that
service, as the project's build machines are today), the gate says so loudly and passes,
unless REQUIRE_AUDIT=1; when it answers for some pins but not others, it fails.

    python .ci/audit.py requirements.lock
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field


@dataclass
class Verdict:
    audited: list[str] = field(default_factory=list)
    vulnerable: list[str] = field(default_factory=list)  # "name version: ID, ID"
    not_audited: list[str] = field(default_factory=list)  # "name: reason"

    def exit_code(self, require_audit: bool) -> int:
        if self.vulnerable:
            return 1
        if self.not_audited and (self.audited or require_audit):
            return 1
        return 0


def judge(report: dict) -> Verdict:
    """Sort pip-audit's JSON report (`-f json`) into audited, vulnerable and not audited pins."""
    verdict = Verdict()
    for dependency in report.get("dependencies", []):
        name = dependency["name"]
        if "skip_reason" in dependency:
            verdict.not_audited.append(f"{name}: {dependency['skip_reason']}")
            continue
        verdict.audited.append(name)
        ids = [v["id"] for v in dependency.get("vulns", [])]
        if ids:
            verdict.vulnerable.append(f"{name} {dependency.get('version', '')}: {', '.join(ids)}")
    return verdict


def main(lock_file: str) -> int:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        # --no-deps --disable-pip: audit exactly the pins, without resolving anything again.
        run = subprocess.run(  # noqa: S603 - a fixed command line of our own
            [sys.executable, "-m", "pip_audit", "-r", lock_file, "--no-deps", "--disable-pip",
             "--progress-spinner", "off", "-f", "json", "-o", out.name],
            capture_output=True, text=True, check=False)
        try:
            report = json.load(open(out.name))  # noqa: SIM115 - the temporary file closes it
        except ValueError:
            print("pip-audit gave no report:", run.stderr.strip()[-2000:], file=sys.stderr)
            return 2
    verdict = judge(report)
    require = os.environ.get("REQUIRE_AUDIT") == "1"
    for line in verdict.vulnerable:
        print(f"VULNERABLE {line}")
    if verdict.not_audited and not verdict.audited:
        print(f"pip-audit: NOT AUDITED. The vulnerability service answered for none of the "
              f"{len(verdict.not_audited)} pins in {lock_file} (first: {verdict.not_audited[0]}).")
        print("  Run `make audit` on a machine that reaches PyPI's JSON API"
              + ("; REQUIRE_AUDIT=1 makes this a failure." if not require else "."))
    elif verdict.not_audited:
        for line in verdict.not_audited:
            print(f"NOT AUDITED {line}")
    if verdict.audited and not verdict.vulnerable:
        print(f"pip-audit: {len(verdict.audited)} pins audited, no known vulnerability.")
    return verdict.exit_code(require)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock"))
