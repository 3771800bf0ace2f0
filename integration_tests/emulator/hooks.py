"""Test hooks outside the API namespace (no auth, no rate limits): /_emulator/{mutate, delete, restore, truth,
catalogue_truth, stats, stats/reset, faults, budget/new_day, oauth/..., reference/{change,add,delete}, clock}.

POST /_emulator/reference/change {"kind": ..., "id": optional}, /reference/add {"kind": ..., "parent": optional},
/reference/delete {"kind": ..., "id": ...} answer {"id": <id>}; a refused change (reference.REFUSED) is a 400.
GET /_emulator/clock answers {"now": epoch seconds}.

Also home of the request statistics and the fault injector, which the hooks expose.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

from .common import Response, dumps, loads

FAULT_DEFAULTS = {"error_every": None, "error_status": 500, "latency_ms": 0, "drop_every": None, "fault_path": None,
                  "truncate_every": None, "html_every": None}

HTML_ERROR = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
         b"<hr><center>cloudflare</center></body></html>\n",
    503: b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
         b"<h1>503 Service Temporarily Unavailable</h1></center><hr><center>cloudflare</center></body></html>\n",
}


class Stats:
    """Request statistics since the last reset, in total and per budget day.

    `today` holds the counters of the current budget day (see rate_limit.RateLimiter: midnight in the server's zone
    or the new_day hook starts the next one); `days` keeps the counters of earlier days (most recent 31), oldest first.
    """

    KEEP_DAYS = 31

    def __init__(self, day: int = 0, date: str = ""):
        self.lock = threading.Lock()
        self.day, self.date = day, date
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.requests = Counter()  # "GET /api/v2/deals" -> n
            self.statuses = Counter()  # "200" -> n
            self.tokens_by_path = Counter()
            self.records_by_path = Counter()
            self.tokens_total = 0
            self.rate_limited_429 = 0
            self.rate_limited_429_burst = 0
            self.rate_limited_429_daily = 0
            self.blocked_403_html = 0
            self.api_token_in_query = 0
            self.oauth_token_requests = 0
            self.faults_injected = Counter()
            self.today = self._new_day_counters()
            self.days = []

    def _new_day_counters(self) -> dict:
        return {"day": self.day, "date": self.date, "requests": 0, "tokens": 0, "rate_limited_429": 0,
                "rate_limited_429_burst": 0, "rate_limited_429_daily": 0, "blocked_403_html": 0,
                "first_daily_429_at": None}  # epoch seconds of the day's first 429 for a spent budget

    def start_day(self, day: int, date: str) -> None:
        """A new budget day began (RateLimiter.on_new_day)."""
        with self.lock:
            self.days = (self.days + [self.today])[-self.KEEP_DAYS:]
            self.day, self.date = day, date
            self.today = self._new_day_counters()

    def record(self, key: str, status: int, tokens: int, records: int, token_in_query: bool,
               refusal: str = None) -> None:
        """One API request answered; `refusal` is the rate limiter's reason ("burst", "daily", "blocked") if any."""
        with self.lock:
            today = self.today
            self.requests[key] += 1
            today["requests"] += 1
            self.statuses[str(status)] += 1
            if tokens:
                self.tokens_by_path[key] += tokens
                self.tokens_total += tokens
                today["tokens"] += tokens
            if records:
                self.records_by_path[key] += records
            if status == 429:
                self.rate_limited_429 += 1
                today["rate_limited_429"] += 1
                if refusal == "daily":
                    self.rate_limited_429_daily += 1
                    today["rate_limited_429_daily"] += 1
                    today["first_daily_429_at"] = today["first_daily_429_at"] or time.time()
                else:
                    self.rate_limited_429_burst += 1
                    today["rate_limited_429_burst"] += 1
            if refusal == "blocked":
                self.blocked_403_html += 1
                today["blocked_403_html"] += 1
            if token_in_query:
                self.api_token_in_query += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "requests": dict(self.requests), "statuses": dict(self.statuses),
                "tokens_total": self.tokens_total, "tokens_by_path": dict(self.tokens_by_path),
                "records_by_path": dict(self.records_by_path), "rate_limited_429": self.rate_limited_429,
                "rate_limited_429_burst": self.rate_limited_429_burst,
                "rate_limited_429_daily": self.rate_limited_429_daily,
                "blocked_403_html": self.blocked_403_html, "api_token_in_query": self.api_token_in_query,
                "oauth_token_requests": self.oauth_token_requests, "faults_injected": dict(self.faults_injected),
                "today": dict(self.today), "days": [dict(d) for d in self.days],
            }


class Faults:
    """Every Nth API request misbehaves; one counter drives all faults so schedules are deterministic."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conf = dict(FAULT_DEFAULTS)
        self.counter = 0

    def set(self, **kw) -> dict:
        unknown = set(kw) - set(FAULT_DEFAULTS) - {"reset", "burst_limit", "daily_budget", "block_after",
                                                     "block_seconds"}
        if unknown:
            raise ValueError(f"unknown fault(s): {sorted(unknown)}")
        with self.lock:
            if kw.get("reset") or not kw:
                self.conf = dict(FAULT_DEFAULTS)
                self.counter = 0
            for k in FAULT_DEFAULTS:
                if k in kw:
                    self.conf[k] = kw[k]
            return dict(self.conf)

    def next(self, template: str = None):
        """The fault for this request: None, 'drop', 'truncate', 'error' or 'html' (+ latency in ms).

        With `fault_path` (an operation's path template, e.g. "/v1/deals/{id}/flow") only its requests misbehave."""
        with self.lock:
            self.counter += 1
            n, c = self.counter, self.conf
            if c["fault_path"] and template != c["fault_path"]:
                return None, c["latency_ms"]
            for name in ("drop", "truncate", "error", "html"):
                every = c[f"{name}_every"]
                if every and n % every == 0:
                    return name, c["latency_ms"]
            return None, c["latency_ms"]


def handle(emu, req) -> Response:
    """Dispatch /_emulator/... requests."""
    path = req.path[len("/_emulator"):]
    try:
        body = loads(req.body) if req.body.strip() else {}
    except ValueError:
        return _json({"error": "body must be JSON"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "body must be a JSON object"}, 400)
    q = {k: v[-1] for k, v in req.query.items()}
    try:
        if path == "/mutate" and req.method == "POST":
            return _json(emu.mutate(**body))
        if path in ("/delete", "/restore") and req.method == "POST":
            act = emu.delete_records if path == "/delete" else emu.restore_records
            return _json({"done": act(body["entity"], body["ids"])})
        if path == "/reference/change" and req.method == "POST":
            return _json({"id": emu.change_reference(body["kind"], body.get("id"))})
        if path == "/reference/add" and req.method == "POST":
            return _json({"id": emu.add_reference(body["kind"], body.get("parent"))})
        if path == "/reference/delete" and req.method == "POST":
            return _json({"id": emu.delete_reference(body["kind"], body["id"])})
        if path == "/clock" and req.method == "GET":
            return _json({"now": emu.clock()})
        if path == "/truth" and req.method == "GET":
            res = emu.truth(q["entity"])
            return _json({str(k): v for k, v in res.items()} if isinstance(res, dict) else res)
        if path == "/catalogue_truth" and req.method == "GET":
            kw = {k: _coerce(v) for k, v in q.items() if k not in ("name", "parent_id")}
            pid = q.get("parent_id")
            res = emu.catalogue_truth(q["name"], int(pid) if pid and pid.isdigit() else pid, **kw)
            return _json({str(k): v for k, v in res.items()} if isinstance(res, dict) and pid is None else res)
        if path == "/stats" and req.method == "GET":
            return _json(emu.stats())
        if path == "/stats/reset" and req.method == "POST":
            emu.reset_stats()
            return _json({"ok": True})
        if path == "/faults" and req.method == "POST":
            return _json(emu.set_faults(**body))
        if path in ("/budget/new_day", "/budget/reset") and req.method == "POST":
            emu.new_day()  # /budget/reset: the older name of the same hook
            return _json({"ok": True, "day": emu.limiter.day})
        if path == "/oauth/refresh_token" and req.method == "POST":
            return _json({"refresh_token": emu.issue_oauth_refresh_token(q.get("client_id") or body["client_id"])})
        if path == "/oauth/code" and req.method == "POST":
            return _json({"code": emu.issue_oauth_code(q.get("client_id") or body["client_id"],
                                                       q.get("redirect_uri", body.get("redirect_uri", "")))})
        if path == "/oauth/expire" and req.method == "POST":
            emu.expire_oauth_access_tokens()
            return _json({"ok": True})
    except (KeyError, TypeError, ValueError) as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 400)
    return _json({"error": "unknown hook"}, 404)


def _coerce(v: str):
    """Query-string keyword for catalogue_truth: true/false, integers, comma lists (items=), else the string."""
    if v in ("true", "false"):
        return v == "true"
    if v.isdigit():
        return int(v)
    return v.split(",") if "," in v else v


def _json(obj, status: int = 200) -> Response:
    return Response(status, dumps(obj))
