"""Token costs, the 2-second burst window and the daily token budget (pipedrive-api.md §6)."""
from __future__ import annotations

import math
import threading
import time
from collections import deque

from .common import ERROR_INFO, Response, dumps
from .spec_tables import COSTS

WINDOW = 2.0  # seconds, rolling, per token (§6.2)

# §6.3: API-token integrations that keep hammering after 429 get a Cloudflare HTML 403 (OAuth traffic is exempt)
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


def cost_of(method: str, template: str) -> int:
    """x-token-cost of the operation; operations missing from the files (deprecated v1 paths) cost 0 (inferred)."""
    return COSTS.get((method, template)) or 0


def _over_limit(headers: dict, error: str) -> Response:
    # 429 body is UNVERIFIED (§6.3); clients model {"success":false,"error":...,"errorCode":429}
    body = {"success": False, "error": error, "errorCode": 429, "error_info": ERROR_INFO, "data": None,
            "additional_data": None}
    return Response(429, dumps(body), headers)


class RateLimiter:
    def __init__(self, burst_limit=None, daily_budget=None, block_after: int = 10, block_seconds: float = 5.0):
        self.lock = threading.Lock()
        self.configure(burst_limit=burst_limit, daily_budget=daily_budget, block_after=block_after,
                       block_seconds=block_seconds)

    def configure(self, **kw) -> None:
        with self.lock:
            if "burst_limit" in kw:
                self.burst_limit = kw["burst_limit"]
                self.windows: dict = {}  # bucket -> deque of request times inside the window
                self.rejections: dict = {}  # bucket -> deque of 429 times
                self.blocked_until: dict = {}
            if "daily_budget" in kw:
                self.daily_budget = kw["daily_budget"]
                self.remaining = kw["daily_budget"]
            if "block_after" in kw:
                self.block_after = kw["block_after"]
            if "block_seconds" in kw:
                self.block_seconds = kw["block_seconds"]

    def reset_daily(self) -> None:
        """Stands in for the server-midnight reset (§6.1)."""
        with self.lock:
            self.remaining = self.daily_budget

    def admit(self, principal, cost: int):
        """(response to send instead, or None; headers to add to whatever is sent; tokens charged)."""
        now = time.monotonic()
        headers = {}
        with self.lock:
            if self.burst_limit is not None:
                key = principal.key
                if self.blocked_until.get(key, 0) > now:
                    return Response(403, CLOUDFLARE_403, {}, "text/html; charset=UTF-8"), {}, 0
                win = self.windows.setdefault(key, deque())
                while win and win[0] <= now - WINDOW:
                    win.popleft()
                if len(win) >= self.burst_limit:
                    reset = max(1, math.ceil(win[0] + WINDOW - now))
                    headers.update(self._burst_headers(0, reset))
                    rej = self.rejections.setdefault(key, deque())
                    rej.append(now)
                    while rej and rej[0] <= now - WINDOW:
                        rej.popleft()
                    if principal.kind == "api_token" and len(rej) > self.block_after:
                        self.blocked_until[key] = now + self.block_seconds
                        rej.clear()
                    headers.update(self._daily_headers())
                    return _over_limit(headers, "Request over limit"), headers, 0
                win.append(now)
                reset = math.ceil(win[0] + WINDOW - now)
                headers.update(self._burst_headers(self.burst_limit - len(win), max(0, reset)))
            if self.daily_budget is not None:
                if self.remaining <= 0:
                    # exhausted: every request 429 until the reset (§6.1); inferred: a request is admitted while
                    # anything remains and the balance then floors at 0
                    headers.update(self._daily_headers())
                    return _over_limit(headers, "Daily token budget exceeded"), headers, 0
                self.remaining = max(0, self.remaining - cost)
                headers.update(self._daily_headers())
        return None, headers, cost

    def _burst_headers(self, remaining: int, reset: int) -> dict:
        return {"x-ratelimit-limit": str(self.burst_limit), "x-ratelimit-remaining": str(max(0, remaining)),
                "x-ratelimit-reset": str(reset)}

    def _daily_headers(self) -> dict:
        if self.daily_budget is None:
            return {}
        return {"x-daily-ratelimit-token-limit": str(self.daily_budget),
                "x-daily-ratelimit-token-remaining": str(self.remaining)}
