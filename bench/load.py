# ruff: noqa: S311 - request mixes from a seeded PRNG, not secrets
"""The load generator: a process of its own that drives the servers over HTTP, like browsers.

    python -m bench.load PLAN.json RESULT.json

The plan (written by `bench.run`) names the servers, the scenarios, their duration and
concurrency, and the data they need (staff accounts, seeded case ids whose tracking codes
`bench.common.tracking_code` derives, deep-page cursors, search terms). Each scenario:

- a setup, not measured: sign in (a moderator, an agency head: neither has a second factor),
  take the report form's one-time tokens, prove tracking codes;
- twice, each after a warm-up of a second or two that is not measured: at rest, one request
  at a time for `rest_seconds` (the time a page takes by itself), then loaded,
  `concurrency` threads for `seconds` (or until `count` requests), each thread sending its
  next request as soon as the last one answered; each request on a new connection
  (gunicorn's sync workers close every connection); each answer's status is checked and
  its time kept.

The result: per scenario and pass the requests, errors, throughput (answers per second) and
the 50th, 95th and 99th percentile latencies (nearest rank), with the load average before.
Clients send `X-Forwarded-For` (the portal runs with TRUSTED_PROXIES=1, as behind nginx):
every simulated resident has an address of its own, each staff session keeps one.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.common import tracking_code

USER_AGENT = "portal-bench/1.0"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_token"[^>]*value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float


_addresses = itertools.count(1)


def new_address() -> str:
    """A client address of its own, in the documentation range of IPv4 (TEST-NET-2) and beyond."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class Browser:
    """One person's browser: its cookies, its address, one request at a time."""

    base: str
    address: str = field(default_factory=new_address)
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, Any] | None = None) -> Answer:
        url = urlsplit(self.base)
        headers = {"Host": "portal.bench.example.org", "User-Agent": USER_AGENT,
                   "X-Forwarded-For": self.address, "Accept-Language": "vi"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "Max-Age=0" not in cookie and "1970" not in cookie:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        return Answer(response.status, response.headers, data, seconds)

    def csrf(self, path: str) -> tuple[str, Answer]:
        page = self.request("GET", path)
        match = CSRF.search(page.body.decode())
        if page.status != 200 or match is None:
            raise RuntimeError(f"no CSRF token on {path} ({page.status})")
        return match.group(1), page

    def sign_in(self, email: str, password: str) -> None:
        token, _page = self.csrf("/login")
        answer = self.request("POST", "/login", {"email": email, "password": password,
                                                 "csrf_token": token})
        if answer.status != 303:
            raise RuntimeError(f"sign-in of {email} failed: {answer.status}")


# -- what each scenario sends ----------------------------------------------------------------

DESCRIPTIONS = (
    "Tôi nộp hồ sơ xin cấp giấy phép xây dựng từ hai tháng trước nhưng đến nay chưa có kết quả, "
    "cán bộ không cho biết hồ sơ vướng ở đâu.",
    "Phường hẹn trả giấy xác nhận sau năm ngày làm việc, đã quá hạn ba tuần và không ai trả lời "
    "điện thoại.",
    "Cán bộ một cửa yêu cầu bổ sung giấy tờ không có trong quy định rồi hướng dẫn sang quận.",
)
CONDUCTS = ("slow_handling", "shirking", "buck_passing", "harassment", "attitude", "omission")
SECTORS = ("land", "construction", "justice", "environment", "health", "education")


class Scenario:
    """A named stream of requests: `setup` once, then `request(worker)` per request."""

    name = ""
    expect = (200,)

    def __init__(self, plan: dict[str, Any], spec: dict[str, Any]):
        self.plan = plan
        self.spec = spec
        self.base = plan["base"]

    def setup(self, concurrency: int) -> None:
        pass

    def request(self, worker: int, rng: random.Random) -> Answer:
        raise NotImplementedError


class Paths(Scenario):
    """GET one of the spec's paths in turn, as the spec's signed-in staff member (or nobody)."""

    def setup(self, concurrency: int) -> None:
        self.paths = self.spec["paths"]
        self.browsers = []
        for _ in range(concurrency):
            browser = Browser(self.base)
            if self.spec.get("as"):
                account = self.plan["accounts"][self.spec["as"]]
                browser.sign_in(account["email"], account["password"])
            self.browsers.append(browser)
        # Every path answers as expected before timing starts, and every worker has seen it
        # (gunicorn hands each connection to any of its workers): what a process computes
        # once and keeps (the closed cases' counts, the scoreboards) is measured as
        # the steady state it is, and its first time is kept apart as `cold_ms`.
        self.cold_ms: dict[str, float] = {}
        rounds = 4 * self.plan.get("workers", 4)
        for path in self.paths:
            for round_ in range(rounds):
                answer = self.browsers[round_ % len(self.browsers)].request("GET", path)
                if answer.status not in self.expect:
                    raise RuntimeError(f"{self.name}: GET {path} answered {answer.status}")
                self.cold_ms[path] = max(self.cold_ms.get(path, 0.0), answer.seconds * 1000)

    def request(self, worker: int, rng: random.Random) -> Answer:
        return self.browsers[worker].request("GET", rng.choice(self.paths))


class Track(Scenario):
    """A reporter's tracking page: sessions that proved their codes, then GET /track/<ref>."""

    def setup(self, concurrency: int) -> None:
        ids = self.spec["case_ids"]
        self.pages: list[tuple[Browser, str]] = []
        per_session = 20  # what a session remembers (citizen.views.MAX_TRACKED)
        for start in range(0, len(ids), per_session):
            browser = Browser(self.base)
            for case_id in ids[start:start + per_session]:
                token, _page = browser.csrf("/track")
                answer = browser.request("POST", "/track", {"code": tracking_code(case_id),
                                                            "csrf_token": token})
                if answer.status != 303:
                    raise RuntimeError(f"track: the code of case {case_id} answered "
                                       f"{answer.status}")
                self.pages.append((browser, urlsplit(answer.headers["Location"]).path))
        # One browser per thread at a time: each thread has its own share of the sessions.
        self.shares = [self.pages[i::concurrency] for i in range(concurrency)]

    def request(self, worker: int, rng: random.Random) -> Answer:
        browser, path = rng.choice(self.shares[worker])
        return browser.request("GET", path)


class Submit(Scenario):
    """A resident sends the report form (no file): forms taken beforehand, each sent once."""

    expect = (303,)

    def setup(self, concurrency: int) -> None:
        wanted = self.spec["count"] + self.spec.get("rest_count", 0) + self.spec.get("spare", 300)
        self.forms: list[tuple[Browser, str, str]] = []
        self.lock = threading.Lock()
        errors: list[BaseException] = []

        def take(count: int) -> None:
            try:
                for _ in range(count):
                    browser = Browser(self.base)  # a resident of their own, a session of their own
                    text = browser.request("GET", "/report").body.decode()
                    form = (browser, CSRF.search(text).group(1), SUBMISSION.search(text).group(1))
                    with self.lock:
                        self.forms.append(form)
            except BaseException as error:  # noqa: BLE001 - reported by the caller
                errors.append(error)

        threads = [threading.Thread(target=take, args=(wanted // concurrency + 1,))
                   for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.agencies = self.spec["agencies"]
        self.communes = self.spec["communes"]

    def request(self, worker: int, rng: random.Random) -> Answer:
        with self.lock:
            if not self.forms:
                raise StopIteration
            browser, csrf, token = self.forms.pop()
        form = {
            "csrf_token": csrf, "submission_token": token,
            "agency_id": rng.choice(self.agencies), "conduct": rng.choice(CONDUCTS),
            "sector": rng.choice(SECTORS), "description": rng.choice(DESCRIPTIONS),
            "ward_code": rng.choice(self.communes), "address": "Số 12 phố Hàng Bạc",
            "reporter_kind": "resident",
        }
        if rng.random() < 0.4:  # a receipt email: an outbox row, handed to RQ after the response
            form["reporter_email"] = f"nguoi.dan.{rng.randrange(10**9)}@example.com"
            form["reporter_name"] = "Nguyễn Văn An"
        if rng.random() < 0.5:
            form["publish_consent"] = "y"
        return browser.request("POST", "/report", form)


class Bare(Scenario):
    """The ceilings: GET /constant, or POST /insert with a small form."""

    def setup(self, concurrency: int) -> None:
        self.expect = (201,) if self.spec["endpoint"] == "insert" else (200,)

    def request(self, worker: int, rng: random.Random) -> Answer:
        browser = Browser(self.base)
        if self.spec["endpoint"] == "insert":
            return browser.request("POST", "/insert", {"payload": "x" * 64})
        return browser.request("GET", "/constant")


KINDS: dict[str, type[Scenario]] = {"paths": Paths, "track": Track, "submit": Submit,
                                    "bare": Bare}


# -- measuring ---------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest rank: the smallest value at least `percent` % of the values are at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


def run(scenario: Scenario, concurrency: int, seconds: float, warmup: float,
        count: int | None = None) -> dict[str, Any]:
    times: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    measuring = threading.Event()
    sent = itertools.count()

    def work(worker: int) -> None:
        rng = random.Random(worker * 7919 + len(scenario.name))
        while not stop.is_set():
            if count is not None and measuring.is_set() and next(sent) >= count:
                return
            try:
                answer = scenario.request(worker, rng)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001 - counted, the run goes on
                key = type(error).__name__
                with lock:
                    failures[key] = failures.get(key, 0) + 1
                continue
            if not measuring.is_set():
                continue
            with lock:
                if answer.status in scenario.expect:
                    times.append(answer.seconds)
                else:
                    failures[str(answer.status)] = failures.get(str(answer.status), 0) + 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    with lock:
        failures.clear()
    load_before = os.getloadavg()
    started = time.perf_counter()
    measuring.set()
    deadline = started + seconds
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=130)
    with lock:
        done = list(times)
        errors = dict(failures)
    ms = [t * 1000 for t in done]
    return {
        "scenario": scenario.name, "concurrency": concurrency, "seconds": round(elapsed, 2),
        "requests": len(done), "errors": sum(errors.values()), "error_kinds": errors,
        "throughput": round(len(done) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": _round(percentile(ms, 50)), "p95_ms": _round(percentile(ms, 95)),
        "p99_ms": _round(percentile(ms, 99)), "mean_ms": _round(sum(ms) / len(ms) if ms else None),
        "max_ms": _round(max(ms) if ms else None),
        "load_average": [round(v, 2) for v in load_before],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str]) -> None:
    plan_path, result_path = argv[1], argv[2]
    with open(plan_path, encoding="utf-8") as source:
        plan = json.load(source)
    results = []
    for spec in plan["scenarios"]:
        scenario = KINDS[spec["kind"]]({**plan, "base": spec.get("base", plan["base"])}, spec)
        scenario.name = spec["name"]
        concurrency = spec.get("concurrency", plan["concurrency"])
        started = time.perf_counter()
        scenario.setup(concurrency)
        setup = time.perf_counter() - started
        # At rest: one request at a time, the time a page takes by itself.
        rest = run(scenario, 1, plan["rest_seconds"], 1.0, spec.get("rest_count"))
        # Loaded: `concurrency` at a time, as many as the servers answer.
        result = run(scenario, concurrency, spec.get("seconds", plan["seconds"]),
                     spec.get("warmup", plan["warmup"]), spec.get("measure_count"))
        result["setup_seconds"] = round(setup, 1)
        if getattr(scenario, "cold_ms", None):
            # The slowest of the first requests of each path: a worker's first time.
            result["cold_ms"] = {path: round(ms, 1) for path, ms in scenario.cold_ms.items()}
        result["at_rest"] = {key: rest[key] for key in (
            "concurrency", "requests", "errors", "error_kinds", "throughput", "p50_ms", "p95_ms",
            "p99_ms", "mean_ms", "max_ms", "load_average")}
        print(f"  {result['scenario']:<17} at rest: p50 {rest['p50_ms']} p95 {rest['p95_ms']} ms"
              f" | ×{concurrency}: {result['throughput']:>7} req/s, p50 {result['p50_ms']} "
              f"p95 {result['p95_ms']} p99 {result['p99_ms']} ms | errors "
              f"{rest['errors'] + result['errors']} "
              f"{rest['error_kinds'] or ''}{result['error_kinds'] or ''}", flush=True)
        results.append(result)
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=2)


if __name__ == "__main__":
    main(sys.argv)
