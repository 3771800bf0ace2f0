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
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    FailureType,
    StreamDescriptor,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pipedrive.budget import utc_now
from source_pipedrive.ledger import Ledger
from source_pipedrive.outcome import done_for_now, must_finish

_LOGGER = logging.getLogger("airbyte")
_COSTS: Dict[str, int] = json.loads((files("source_pipedrive") / "token_costs.json").read_text())
_ID_SEGMENT = re.compile(r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,})(?=/|$)")
MAX_REQUEST_COST = 40  # the dearest request the connector sends (flows, archived leads)
# After a stop, runs the platform starts before the budget resets send at most one probe an hour (budget.py); the
# stop keeps that much more than the reserve, so the probes never reach into it.
PROBE_COST, PROBES_A_DAY = 2, 24
PROGRESS_EVERY_SECONDS = 60.0
DEFAULT_RESERVE_PERCENT = 10.0  # the spec's default for daily_budget_reserve_percent
_RESUMES = "This sync saved its progress; the next one continues from there."


class BudgetSpent(AirbyteTracedException):
    """A request the sync did not send (or whose answer it stopped at) because the daily budget is spent."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message="pipedrive-daily-budget", failure_type=FailureType.transient_error)

    def as_airbyte_message(self, stream_descriptor: Optional[StreamDescriptor] = None) -> AirbyteMessage:
        """The CDK's trace, without the formatted stack: after a stop every partition still queued ends with one of
        these (thousands for a child stream of a big account), and formatting each stack took tens of milliseconds.
        The stop is expected; where it happened says nothing (cli.py reports it once)."""
        return AirbyteMessage(type=Type.TRACE, trace=AirbyteTraceMessage(
            type=TraceType.ERROR, emitted_at=time.time_ns() // 1_000_000,
            error=AirbyteErrorTraceMessage(message=self.message, internal_message=self.internal_message,
                                           failure_type=self.failure_type, stack_trace=None,
                                           stream_descriptor=stream_descriptor)))


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
        self.in_flight_margin = MAX_REQUEST_COST * int(config.get("num_workers") or 4) + PROBE_COST * PROBES_A_DAY
        self.spent: Dict[str, List[int]] = {}
        self.limit: Optional[int] = None
        self.remaining: Optional[int] = None
        self.stop_reason: Optional[str] = None
        self.field_lists: Dict[str, list] = {}  # Fields path -> items, read once per sync
        self.field_maps: Dict[str, Any] = {}  # stream name -> its CustomFieldMap, planned once per sync
        self.field_map_plans: Dict[str, Any] = {}  # stream name -> how to plan it (its schema loader)
        self.schemas: Dict[str, Any] = {}  # stream name -> the JSON schema the configured catalog carries
        self.pages: Dict[Any, Any] = {}  # components.SharedPages: pages of lists several streams read
        self.parent_lists: Dict[Any, Any] = {}  # (parent lists, their saved state) -> (slices, final state)
        self._list_locks: Dict[Any, threading.Lock] = {}
        self._next_progress_log = time.monotonic() + PROGRESS_EVERY_SECONDS
        self.ledger = Ledger()  # what the last run left in the state, and what this one leaves (ledger.py)
        self._changes: Any = None
        self.primary_keys: Dict[str, List[str]] = {}  # stream -> its primary key's fields, from the catalog
        self.selected: set = set()  # the streams of the configured catalog
        self.must_finish: set = set()  # streams a successful end would truncate unless complete (source.must_finish)
        self.completed: set = set()  # streams the CDK reported COMPLETE, not stopped by the budget
        self.read_whole: set = set()  # incremental streams read whole in this run (compared with their last read)
        self.started_at = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.skipped: Dict[str, set] = {}  # why -> the streams not read (cost_lines)
        self.totals: Dict[str, int] = {}  # stream -> the total a v1 summary reports
        self.visits: Dict[str, List[Any]] = {}  # child stream -> [requests planned, tokens each, records, list whole]
        self.budget_stopped: set = set()  # incremental streams that ended early because the budget stopped the sync

    @classmethod
    def start(cls, config: Mapping[str, Any]) -> "Sync":
        cls._current = cls(config)
        return cls._current

    def take(self, catalog: Any, state: Any) -> None:
        """What a read is asked to do: its catalog, and the state the last run left (ledger.py)."""
        entries = catalog.streams if catalog is not None else []
        self.ledger = Ledger(state)
        self.selected = {entry.stream.name for entry in entries}
        self.must_finish = {entry.stream.name for entry in entries
                            if must_finish(entry.sync_mode.value, entry.minimum_generation_id)}
        self.schemas = {entry.stream.name: entry.stream.json_schema for entry in entries}
        self.primary_keys = {entry.stream.name: [path[0] for path in entry.primary_key or entry.stream.source_defined_primary_key or []]
                             for entry in entries}

    @classmethod
    def current(cls) -> "Sync":
        return cls._current or cls.start({})

    @property
    def changes(self) -> Any:
        """changes.Changes: what changed in the account since the last sync, read once for every stream."""
        from source_pipedrive.changes import Changes  # changes.py builds on this module

        with self.lock:
            if self._changes is None:
                self._changes = Changes()
            return self._changes

    def field_map(self, stream: str) -> Any:
        """The stream's custom-field columns, planned on first use (one Fields read per entity and sync)."""
        with self.lock_for(("field_map", stream)):
            if stream not in self.field_maps:
                plan = self.field_map_plans.get(stream)
                if plan is None:
                    raise RuntimeError(f"{stream}: custom-field columns are planned by the stream's schema loader, "
                                       "which has not run")
                self.field_maps[stream] = plan()
            return self.field_maps[stream]

    def lock_for(self, key: Any) -> threading.Lock:
        with self.lock:
            return self._list_locks.setdefault(key, threading.Lock())

    # ---- the gate ----------------------------------------------------------------------------------------------
    def check_open(self) -> None:
        if self.stop_reason:
            raise BudgetSpent(self.stop_reason)

    def stop(self, reason: str, observed: bool = True) -> None:
        """Closes the gate. `observed`: Pipedrive reported the budget low just now (not only an earlier run)."""
        with self.lock:
            first = self.stop_reason is None
            self.stop_reason = self.stop_reason or reason
            if first and observed:
                self.ledger.budget.stopped(utc_now(), reason)
        if first and observed:
            _LOGGER.info(f"Sending no more requests in this sync; the requests under way finish. {reason}")

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
                self.ledger.budget.observe(utc_now(), remaining, self.limit, in_flight=self.in_flight_margin)
        if remaining == 0:
            self.stop(self.spent_message())
            if response.status_code == 429:
                raise BudgetSpent(self.stop_reason or self.spent_message())
        elif remaining is not None and self.limit and self.reserve_percent and \
                remaining < self.limit * self.reserve_percent / 100 + self.in_flight_margin:
            self.stop(f"Stopping to keep the reserve of Pipedrive's daily API budget: {remaining:,} of the company's "
                      f"{self.limit:,} daily tokens are left, and daily_budget_reserve_percent keeps "
                      f"{self.reserve_percent:g}% for its other integrations. {self.resets()} {_RESUMES}")
        self._log_progress()

    def spent_message(self) -> str:
        size = f" ({self.limit:,} tokens)" if self.limit else ""
        return f"Pipedrive's daily API budget for this company{size} is used up; all its integrations share it. {self.resets()} {_RESUMES}"

    def plan_visits(self, stream: str, requests_: int, rows: Optional[int], cost: float, exact: bool) -> None:
        """A child stream's parent list read: the requests its parents will take, what each costs, its records."""
        with self.lock:
            plan = self.visits.setdefault(stream, [0, cost, None, True])
            plan[0] += requests_
            plan[2] = rows if plan[2] is None else plan[2] + (rows or 0)
            plan[3] = plan[3] and exact

    def estimate(self, stream: str, rows: int) -> None:
        with self.lock:
            self.totals[stream] = rows

    def estimates(self) -> Dict[str, int]:
        """Records streams will emit where Pipedrive reports them: a summary's total, or the parent lists' counts of
        exactly what a child lists."""
        with self.lock:
            return {**self.totals, **{name: plan[2] for name, plan in self.visits.items() if plan[2] is not None}}

    def work_left(self, streams: Any) -> tuple:
        """(tokens the parents not yet visited will cost, whether the parent lists were known whole)."""
        with self.lock:
            plans = [(self.visits[name], (self.spent.get(name) or [0])[0]) for name in streams if name in self.visits]
        return sum(max(0, planned - sent) * cost for (planned, cost, _, _), sent in plans), all(p[3] for p, _ in plans)

    def days_left(self, streams: Any) -> str:
        tokens, exact = self.work_left(streams)
        usable = (self.limit or 0) * (1 - self.reserve_percent / 100)
        if not tokens or usable <= 0:
            return ""
        days = max(1, int(-(-tokens // usable)))
        bound = "" if exact else "at least "
        return (f" The child streams still have {bound}{int(tokens):,} tokens of parents to visit: {bound}{days} more "
                f"budget-day(s) at {int(usable):,} usable tokens a day, lists not counted.")

    def done_for_now(self) -> str:
        stopped = self.budget_stopped | (self.selected - self.completed)
        return done_for_now(stopped) + self.days_left(stopped)

    def resets(self) -> str:
        memory = self.ledger.budget
        if memory.reset_after is None or memory.reset_by is None:
            return "The budget resets at midnight in Pipedrive's server time zone."
        return (f"The budget resets at midnight in Pipedrive's server time zone, seen between "
                f"{memory.reset_after:%H:%M} and {memory.reset_by:%H:%M} UTC.")

    # ---- reporting ---------------------------------------------------------------------------------------------
    def cost_lines(self) -> List[str]:
        with self.lock:
            lines = [f"API cost of {name}: {n:,} requests, {tokens:,} tokens"
                     for name, (n, tokens) in sorted(self.spent.items())]
            total = [sum(v[0] for v in self.spent.values()), sum(v[1] for v in self.spent.values())]
            lines.append(f"API cost of this sync: {total[0]:,} requests, {total[1]:,} tokens" + self._left())
            skipped = {reason: sorted(names) for reason, names in self.skipped.items() if names}
        if skipped.get("unchanged"):
            lines.append("Not read, Pipedrive reporting no change since the last sync: " + ", ".join(skipped["unchanged"]))
        if skipped.get("not due"):
            lines.append("Not read, their reference_refresh_hours not yet passed: " + ", ".join(skipped["not due"]))
        if skipped.get("held back"):
            lines.append("Not refreshed until the streams the daily budget stopped have caught up (at most a week): "
                         + ", ".join(skipped["held back"]))
        return lines

    def skip(self, stream: str, reason: str) -> None:
        """A stream this sync does not read: "unchanged" (changes.py), "not due" (reference refresh) or "held back"
        (a refresh put off while the budget holds the sync back)."""
        with self.lock:
            self.skipped.setdefault(reason, set()).add(stream)

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
