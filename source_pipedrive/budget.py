"""The company's daily API budget as one run leaves it to the next: when a run stopped for it, what Pipedrive last
reported, and when the budget was seen to reset.

Pipedrive resets a company's budget at midnight in its server's time zone, which it does not name (pipedrive-api.md
§6.1). After a run stopped for the budget the Airbyte platform keeps starting the source: retries of the failed
attempt (10 s, 30 s, 90 s … later) and every scheduled job (hourly, daily). Each of those starts must cost nothing
until the budget can have reset, and must not dig into the reserve kept for the company's other integrations. So
`plan` tells a run what to do before it sends anything: `GO`, `PROBE` (one cheap request, at most once an hour, while
the reset may or may not have happened) or `WAIT` (no request at all).

The reset is learnt, not assumed: Pipedrive reports the tokens left on every response, and the first time they rise
between two observations a reset happened in between (`learn`). The window narrows as observations come closer
(hourly probes, or a sync running across midnight) and is kept for the next days; before it is known, a reset is
certain only 24 hours after the stop.
"""

import datetime
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

DAY = datetime.timedelta(days=1)
PROBE_EVERY = datetime.timedelta(hours=1)
# Responses of concurrent requests arrive out of order, so the tokens left seem to rise by a request or two now and
# then; a reset gives back what the company spent since the last one. A rise counts as a reset above this share.
RESET_RISE = 0.05
GO, PROBE, WAIT = "go", "probe", "wait"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def as_text(moment: Optional[datetime.datetime]) -> Optional[str]:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_time(value: Any) -> Optional[datetime.datetime]:
    try:
        return datetime.datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


@dataclass
class Observation:
    at: datetime.datetime
    remaining: int
    limit: Optional[int]


@dataclass
class Plan:
    action: str  # GO, PROBE or WAIT
    reset_by: Optional[datetime.datetime]  # when the budget will have reset, once the reset time is known


@dataclass
class BudgetMemory:
    seen: Optional[Observation] = None  # the last budget Pipedrive reported, in any run
    stopped_at: Optional[datetime.datetime] = None  # when the last run stopped for the budget (None: it did not)
    reason: str = ""  # what that run said
    reset_after: Optional[datetime.datetime] = None  # one reset happened after this …
    reset_by: Optional[datetime.datetime] = None  # … and by this; the next ones a whole number of days later

    # ---- the state -------------------------------------------------------------------------------------------
    @classmethod
    def from_state(cls, value: Any) -> "BudgetMemory":
        if not isinstance(value, Mapping):
            return cls()
        seen = None
        at, remaining = parse_time(value.get("seen_at")), value.get("remaining")
        if at and isinstance(remaining, int):
            limit = value.get("limit")
            seen = Observation(at, remaining, limit if isinstance(limit, int) else None)
        after, by = parse_time(value.get("reset_after")), parse_time(value.get("reset_by"))
        return cls(seen=seen, stopped_at=parse_time(value.get("stopped_at")), reason=str(value.get("reason") or ""),
                   reset_after=after if after and by and after < by else None, reset_by=by if after and by and after < by else None)

    def to_state(self) -> dict:
        seen = self.seen
        return {"seen_at": as_text(seen.at) if seen else None, "remaining": seen.remaining if seen else None,
                "limit": seen.limit if seen else None, "stopped_at": as_text(self.stopped_at),
                "reason": self.reason or None, "reset_after": as_text(self.reset_after), "reset_by": as_text(self.reset_by)}

    @property
    def written_at(self) -> Optional[datetime.datetime]:
        """When this memory was last true: of two copies (every stream's state carries one) the newer wins."""
        moments = [m for m in (self.seen.at if self.seen else None, self.stopped_at) if m]
        return max(moments) if moments else None

    # ---- what a run does first -------------------------------------------------------------------------------
    def plan(self, now: datetime.datetime) -> Plan:
        if self.stopped_at is None:
            return Plan(GO, None)
        window = self.next_reset_window()
        earliest, latest = window if window else (self.stopped_at, self.stopped_at + DAY)
        reset_by = window[1] if window else None
        if now >= latest:
            return Plan(GO, reset_by)
        last_asked = max(self.stopped_at, self.seen.at if self.seen else self.stopped_at)
        if now > earliest and now - last_asked >= PROBE_EVERY:
            return Plan(PROBE, reset_by)
        return Plan(WAIT, reset_by)

    def next_reset_window(self) -> Optional[Tuple[datetime.datetime, datetime.datetime]]:
        """(after, by]: when the first reset after the last stop happens, from the reset seen on an earlier day."""
        if self.stopped_at is None or self.reset_after is None or self.reset_by is None:
            return None
        days = (self.stopped_at - self.reset_by) // DAY + 1  # the first `by` after the stop
        after, by = self.reset_after + days * DAY, self.reset_by + days * DAY
        return max(after, self.stopped_at), by

    # ---- what Pipedrive reports ------------------------------------------------------------------------------
    def observe(self, now: datetime.datetime, remaining: int, limit: Optional[int], in_flight: int = 0) -> None:
        """Takes in the budget a response reports; the tokens left rising between two observations is a reset.
        `in_flight`: the tokens of the requests that may be under way at once, whose responses can arrive in any
        order (on a small budget more than RESET_RISE of it): a rise within that is no reset."""
        previous, self.seen = self.seen, Observation(now, remaining, limit)
        if previous is None or now <= previous.at:
            return
        if remaining - previous.remaining <= max(RESET_RISE * (limit or 30_000), in_flight):
            return
        if previous.limit is not None and limit is not None and previous.limit != limit:
            return  # the company bought tokens or changed plan: not a reset
        after, by = previous.at, now
        if self.reset_after is not None and self.reset_by is not None:
            days = round((by - self.reset_by) / DAY)
            known_after, known_by = self.reset_after + days * DAY, self.reset_by + days * DAY
            if max(after, known_after) < min(by, known_by):  # consistent with what was known: narrow it
                after, by = max(after, known_after), min(by, known_by)
        self.reset_after, self.reset_by = after, by

    def stopped(self, now: datetime.datetime, reason: str) -> None:
        self.stopped_at, self.reason = now, reason

    def finished(self) -> None:
        self.stopped_at, self.reason = None, ""
