"""What the components of one sync share: the company's daily API budget, what the sync spends, field definitions.

Pipedrive gives a company one token budget a day, shared by every integration it runs (pipedrive-api.md §6.1).
Once it is spent every request is answered 429 until midnight in Pipedrive's time zone, and an API token that keeps
calling gets blocked (§6.3). So the sync stops asking the moment a response says the budget is spent, or that what
is left has fallen below the reserve kept for the company's other integrations: `stop` closes the gate every request
passes (components.BudgetGate refuses to send), the streams save their state, and run.py ends with one trace.

A process runs one sync, so this is one object per process (the connector's only global), started anew whenever a
source is built.
"""

import json
import logging
import re
import threading
import time
from importlib.resources import files
from typing import Any, Dict, List, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

_LOGGER = logging.getLogger("airbyte")
_COSTS: Dict[str, int] = json.loads((files("source_pipedrive") / "token_costs.json").read_text())
_ID_SEGMENT = re.compile(r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,})(?=/|$)")
MAX_REQUEST_COST = 40  # the dearest request the connector sends (flows, archived leads)
PROGRESS_EVERY_SECONDS = 60.0
DEFAULT_RESERVE_PERCENT = 10.0  # the spec's default for daily_budget_reserve_percent


class BudgetSpent(AirbyteTracedException):
    """A request the sync did not send (or whose answer it stopped at) because the daily budget is spent."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message="pipedrive-daily-budget", failure_type=FailureType.transient_error)


def token_cost(url: str) -> int:
    """The x-token-cost Pipedrive's OpenAPI files give the operation behind a request URL (0 when unknown)."""
    path = requests.utils.urlparse(url).path
    return _COSTS.get(path) or _COSTS.get(_ID_SEGMENT.sub("/{id}", path), 0)


def _header_int(response: requests.Response, name: str) -> Optional[int]:
    try:
        return int(float(response.headers[name]))
    except (KeyError, TypeError, ValueError):
        return None


class Sync:
    _current: Optional["Sync"] = None

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.lock = threading.Lock()
        reserve = config.get("daily_budget_reserve_percent")
        self.reserve_percent = float(DEFAULT_RESERVE_PERCENT if reserve is None else reserve)
        self.in_flight_margin = MAX_REQUEST_COST * int(config.get("num_workers") or 4)
        self.spent: Dict[str, List[int]] = {}
        self.limit: Optional[int] = None
        self.remaining: Optional[int] = None
        self.stop_reason: Optional[str] = None
        self.field_lists: Dict[str, list] = {}  # Fields path -> items, read once per sync
        self.field_maps: Dict[str, Any] = {}  # stream name -> the CustomFieldMap its schema declared
        self._next_progress_log = time.monotonic() + PROGRESS_EVERY_SECONDS

    @classmethod
    def start(cls, config: Mapping[str, Any]) -> "Sync":
        cls._current = cls(config)
        return cls._current

    @classmethod
    def current(cls) -> "Sync":
        return cls._current or cls.start({})

    # ---- the gate ----------------------------------------------------------------------------------------------
    def check_open(self) -> None:
        if self.stop_reason:
            raise BudgetSpent(self.stop_reason)

    def stop(self, reason: str) -> None:
        with self.lock:
            first = self.stop_reason is None
            self.stop_reason = self.stop_reason or reason
        if first:
            _LOGGER.warning(f"Stopping: {reason}")

    def account(self, stream: str, response: requests.Response) -> None:
        """Charges a response to its stream and stops the sync when the budget it reports is spent or too low.

        Raises BudgetSpent for a 429 that says no daily tokens are left: that request got nothing."""
        remaining, limit = _header_int(response, "x-daily-ratelimit-token-remaining"), \
            _header_int(response, "x-daily-ratelimit-token-limit")
        with self.lock:
            spent = self.spent.setdefault(stream or "other", [0, 0])
            spent[0] += 1
            if response.status_code != 429:
                spent[1] += token_cost(response.request.url if response.request is not None else response.url)
            if remaining is not None:
                self.remaining, self.limit = remaining, limit if limit is not None else self.limit
        if remaining == 0:
            self.stop(self.spent_message())
            if response.status_code == 429:
                raise BudgetSpent(self.stop_reason or self.spent_message())
        elif remaining is not None and self.limit and self.reserve_percent and \
                remaining < self.limit * self.reserve_percent / 100 + self.in_flight_margin:
            self.stop(f"{remaining:,} of the company's {self.limit:,} daily Pipedrive API tokens are left, and "
                      f"daily_budget_reserve_percent keeps {self.reserve_percent:g}% for its other integrations. "
                      f"This sync saved its progress; the next one continues from there.")
        self._log_progress()

    def spent_message(self) -> str:
        size = f" ({self.limit:,} tokens)" if self.limit else ""
        return (f"Pipedrive's daily API budget for this company{size} is used up; all its integrations share it. "
                "It resets at midnight in Pipedrive's server time zone. This sync saved its progress; the next one "
                "continues from there.")

    # ---- reporting ---------------------------------------------------------------------------------------------
    def cost_lines(self) -> List[str]:
        with self.lock:
            lines = [f"API cost of {name}: {n:,} requests, {tokens:,} tokens"
                     for name, (n, tokens) in sorted(self.spent.items())]
            total = [sum(v[0] for v in self.spent.values()), sum(v[1] for v in self.spent.values())]
            lines.append(f"API cost of this sync: {total[0]:,} requests, {total[1]:,} tokens" + self._left())
        return lines

    def _left(self) -> str:
        if self.remaining is None or not self.limit:
            return ""
        return f"; Pipedrive reports {self.remaining:,} of {self.limit:,} daily tokens left"

    def _log_progress(self) -> None:
        now = time.monotonic()
        if now < self._next_progress_log:
            return
        with self.lock:
            if now < self._next_progress_log:
                return
            self._next_progress_log = now + PROGRESS_EVERY_SECONDS
            requests_sent = sum(v[0] for v in self.spent.values())
            tokens = sum(v[1] for v in self.spent.values())
        _LOGGER.info(f"Progress: {requests_sent:,} requests, {tokens:,} tokens so far" + self._left())
