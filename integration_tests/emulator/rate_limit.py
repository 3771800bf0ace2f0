"""Token costs, the 2-second burst window, the company's daily token budget and the Cloudflare block (§6).

Daily budget (pipedrive-api.md §6.1, §6.3):
- one balance per company, shared by every principal of the emulated company: all API tokens and all OAuth access
  tokens draw from it (UI use, which the emulator has none of, would not count);
- each admitted request is charged its operation's `x-token-cost` (0 for paths the openapi files do not list);
- every response to an authenticated API request carries `x-daily-ratelimit-token-limit` and
  `x-daily-ratelimit-token-remaining` while a budget is configured (observed headers, §6.3);
- once the balance is 0, every authenticated API request, whatever its path, cost or method, is answered 429 with
  `x-daily-ratelimit-token-remaining: 0` until the reset ("Exhausted ⇒ every request 429 until reset", §6.1);
- the reset happens at midnight in the server's time zone (§6.1 does not name it: configurable, default UTC), read
  from an injectable clock, or when a test calls `new_day()` (hook POST /_emulator/budget/new_day), which stands in
  for that midnight. Each reset starts a new budget day; `day` counts them from 0.

Burst window (§6.2): per principal, rolling 2 s, measured on the monotonic clock (the injectable clock only decides
the calendar day, so a test may freeze or jump it without touching the burst window).

Block (§6.3 "API-token integrations that keep hammering after 429 get 403 with a Cloudflare HTML page"): an API token
that has been answered more than `block_after` 429s -- burst or daily alike -- within one 2-second window gets the
HTML 403 for every request during `block_seconds`. OAuth principals are never blocked. The thresholds are not
published (inferred); the defaults (10 per 2 s, 5 s) leave alone a client that sends a handful of requests after its
first 429 and catch one that keeps firing.
"""
from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import deque
from zoneinfo import ZoneInfo

from .common import ERROR_INFO, Response, dumps
from .spec_tables import COSTS

WINDOW = 2.0  # seconds, rolling, per token (§6.2)

CLOUDFLARE_403 = b"""<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title>
<meta charset="UTF-8" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details">
<h1 data-translate="block_headline">Sorry, you have been blocked</h1>
<h2 class="cf-subheadline">You are unable to access pipedrive.com</h2>
<p>This website is using a security service to protect itself from online attacks.</p>
<p>Cloudflare Ray ID: <strong>emulator</strong></p>
</div></div></body></html>
"""

BURST, DAILY, BLOCKED = "burst", "daily", "blocked"  # why admit() refused a request


def cost_of(method: str, template: str) -> int:
    """x-token-cost of the operation; operations missing from the files (deprecated v1 paths) cost 0 (inferred)."""
    return COSTS.get((method, template)) or 0


def _over_limit(headers: dict, error: str) -> Response:
    # 429 body is UNVERIFIED (§6.3); clients model {"success":false,"error":...,"errorCode":429}
    body = {"success": False, "error": error, "errorCode": 429, "error_info": ERROR_INFO, "data": None,
            "additional_data": None}
    return Response(429, dumps(body), headers)


class RateLimiter:
    def __init__(self, burst_limit=None, daily_budget=None, block_after: int = 10, block_seconds: float = 5.0,
                 timezone: str = "UTC", clock=None, on_new_day=None):
        self.lock = threading.Lock()
        self.clock = clock or time.time  # wall clock in epoch seconds: decides the budget day only
        self.tz = ZoneInfo(timezone)
        self.on_new_day = on_new_day  # callback(day, date) after every reset
        self.day = 0
        now = self.clock()
        self.date = self._local_date(now)
        self._day_end = self._next_midnight(now)
        self.remaining = None
        self.configure(burst_limit=burst_limit, daily_budget=daily_budget, block_after=block_after,
                       block_seconds=block_seconds)

    def configure(self, **kw) -> None:
        with self.lock:
            if "burst_limit" in kw:
                self.burst_limit = kw["burst_limit"]
                self.windows: dict = {}  # principal key -> deque of admitted request times inside the window
            if "burst_limit" in kw or "daily_budget" in kw:
                self.rejections: dict = {}  # API-token key -> deque of 429 times inside the window
                self.blocked_until: dict = {}
            if "daily_budget" in kw:
                self.daily_budget = kw["daily_budget"]
                self.remaining = kw["daily_budget"]
            if "block_after" in kw:
                self.block_after = kw["block_after"]
            if "block_seconds" in kw:
                self.block_seconds = kw["block_seconds"]

    # ---- the budget day ----------------------------------------------------------------------------------
    def _local_date(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self.tz).date()

    def _next_midnight(self, now: float) -> float:
        tomorrow = self._local_date(now) + dt.timedelta(days=1)
        return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=self.tz).timestamp()

    def tick(self) -> None:
        """Apply the server-midnight reset if the clock has passed it (called once per API request: one clock read
        and one comparison unless a midnight has passed)."""
        now = self.clock()
        if now < self._day_end:
            return
        with self.lock:
            if now < self._day_end:
                return
            today = self._local_date(now)
            passed = (today - self.date).days
            self._day_end = self._next_midnight(now)
            if passed <= 0:  # the clock went backwards and forwards again: no midnight in between
                return
            self._start_day(self.day + passed, today)

    def new_day(self) -> None:
        """Stands in for the server-midnight reset (hook POST /_emulator/budget/new_day)."""
        with self.lock:
            self._start_day(self.day + 1, self.date)

    def _start_day(self, day: int, date: dt.date) -> None:
        self.day, self.date = day, date
        self.remaining = self.daily_budget
        if self.on_new_day is not None:
            self.on_new_day(day, date.isoformat())

    # ---- admission ---------------------------------------------------------------------------------------
    def admit(self, principal, cost: int):
        """(response to send instead or None, headers for whatever is sent, tokens charged, refusal kind or None)."""
        now = time.monotonic()
        headers = {}
        key = principal.key
        with self.lock:
            if self.blocked_until.get(key, 0) > now:
                return Response(403, CLOUDFLARE_403, {}, "text/html; charset=UTF-8"), {}, 0, BLOCKED
            win = None
            if self.burst_limit is not None:
                win = self.windows.setdefault(key, deque())
                while win and win[0] <= now - WINDOW:
                    win.popleft()
            if self.daily_budget is not None and self.remaining <= 0:
                # exhausted: every request is refused until the reset (§6.1); a refused request does not enter the
                # burst window (inferred), so the burst headers show the window as it stands
                if win is not None:
                    headers.update(self._burst_headers(self.burst_limit - len(win), self._reset_in(win, now)))
                headers.update(self._daily_headers())
                self._count_429(principal, now)
                return _over_limit(headers, "Daily token budget exceeded"), headers, 0, DAILY
            if win is not None:
                if len(win) >= self.burst_limit:
                    headers.update(self._burst_headers(0, max(1, self._reset_in(win, now))))
                    headers.update(self._daily_headers())
                    self._count_429(principal, now)
                    return _over_limit(headers, "Request over limit"), headers, 0, BURST
                win.append(now)
                headers.update(self._burst_headers(self.burst_limit - len(win), self._reset_in(win, now)))
            if self.daily_budget is not None:
                # inferred: a request is admitted while anything remains, and the balance then floors at 0
                self.remaining = max(0, self.remaining - cost)
                headers.update(self._daily_headers())
        return None, headers, cost, None

    def _count_429(self, principal, now: float) -> None:
        """Hammering bookkeeping for the Cloudflare block: API tokens only, 429s of both kinds (§6.3)."""
        if principal.kind != "api_token":
            return
        rej = self.rejections.setdefault(principal.key, deque())
        rej.append(now)
        while rej and rej[0] <= now - WINDOW:
            rej.popleft()
        if len(rej) > self.block_after:
            self.blocked_until[principal.key] = now + self.block_seconds
            rej.clear()

    @staticmethod
    def _reset_in(win, now: float) -> int:
        return max(0, math.ceil(win[0] + WINDOW - now)) if win else 0

    def _burst_headers(self, remaining: int, reset: int) -> dict:
        return {"x-ratelimit-limit": str(self.burst_limit), "x-ratelimit-remaining": str(max(0, remaining)),
                "x-ratelimit-reset": str(reset)}

    def _daily_headers(self) -> dict:
        if self.daily_budget is None:
            return {}
        return {"x-daily-ratelimit-token-limit": str(self.daily_budget),
                "x-daily-ratelimit-token-remaining": str(self.remaining)}
