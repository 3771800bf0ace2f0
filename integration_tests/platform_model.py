"""The Airbyte platform's loop around a connection, played on an emulated clock: schedule, attempts and retries,
what exit 0 does to the destination, auto-disable. Each attempt runs the installed `source-pipedrive read` under
Debian's faketime at the emulated time; the emulator shares that clock, so its budget day (and midnight reset)
follows it.

The rules, as airbyte-platform implements them (docs/BEHAVIOR.md §11 cites each):
- a scheduled job runs attempts until one exits 0, or until 5 successive (10 in all) attempts that committed no
  record failed, or 10 attempts that committed records failed (the current default allows 20; 10 is the stricter);
  after an attempt with no committed record the next waits 10 s, 30 s, 90 s … (×3, at most 30 min), after one with
  records it starts at once;
- records and states of every attempt are committed (records up to the last state of a failed attempt);
- exit 0: the platform sends COMPLETE for every configured stream, so a full-refresh (overwrite) table keeps only
  what this job read; a failed job truncates nothing; a new job clears full-refresh streams' state;
- a connection whose jobs all failed for N days (and M jobs in a row) is disabled.
The destination deduplicates incremental streams by primary key and applies `_ab_cdc_deleted_at` deletions.
"""

import collections
import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set

from integration_tests.connector import EXECUTABLE

FAKECLOCK = Path(__file__).parent / "fakeclock"
MAX_SUCCESSIVE_EMPTY, MAX_EMPTY, MAX_WITH_DATA = 5, 10, 10
BACKOFF_FIRST, BACKOFF_BASE, BACKOFF_MAX = 10, 3, 1800
DAY = 86400


class SimClock:
    """Emulated time: it runs with the real clock, and jumps ahead when the platform would wait."""

    def __init__(self, start: datetime) -> None:
        self.offset = start.timestamp() - time.time()

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)

    def stamp(self) -> str:
        return datetime.fromtimestamp(self.now(), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Attempt:
    job: int
    number: int
    started: float
    exit_code: int
    committed: int
    rate_limited: Set[str]
    errors: List[str]
    seconds: float


@dataclass
class Job:
    number: int
    started: float
    attempts: List[Attempt] = field(default_factory=list)
    succeeded: bool = False


class Destination:
    """Incremental streams upserted by primary key (deletions applied); full-refresh streams by generation: a job's
    rows join the table, and COMPLETE (exit 0) drops the rows of older jobs."""

    def __init__(self, catalog: Mapping[str, Any]) -> None:
        self.keys = {e["stream"]["name"]: [p[0] for p in e["stream"]["source_defined_primary_key"]] for e in catalog["streams"]}
        self.overwrite = {e["stream"]["name"] for e in catalog["streams"] if e["sync_mode"] == "full_refresh"}
        self.tables: Dict[str, Dict[tuple, int]] = collections.defaultdict(dict)  # key -> generation (job)
        self.lost_rows: List[str] = []

    def write(self, job: int, stream: str, data: Mapping[str, Any]) -> None:
        key = tuple(data.get(k) for k in self.keys[stream])
        if data.get("_ab_cdc_deleted_at") and stream not in self.overwrite:
            self.tables[stream].pop(key, None)
        else:
            self.tables[stream][key] = job

    def complete(self, job: int) -> None:
        for stream in self.overwrite:
            before = len(self.tables[stream])
            self.tables[stream] = {k: g for k, g in self.tables[stream].items() if g == job}
            if len(self.tables[stream]) < before:
                self.lost_rows.append(f"job {job}: {stream} {before} -> {len(self.tables[stream])} rows")

    def rows(self) -> Dict[str, Set[tuple]]:
        return {stream: set(table) for stream, table in self.tables.items() if table}


class Connection:
    def __init__(self, folder: Path, clock: SimClock, config: Mapping[str, Any], catalog: Mapping[str, Any],
                 every_hours: float) -> None:
        self.folder, self.clock, self.config, self.catalog = folder, clock, config, catalog
        self.every = every_hours * 3600
        self.destination = Destination(catalog)
        self.states: Dict[str, Any] = {}
        self.jobs: List[Job] = []
        self.started = clock.now()
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "catalog.json").write_text(json.dumps(catalog))

    # ---- one attempt ---------------------------------------------------------------------------------------------
    def attempt(self, job: Job) -> Attempt:
        state_path = self.folder / "state.json"
        state_path.write_text(json.dumps(list(self.states.values())))
        started, wall = self.clock.now(), time.monotonic()
        command = [shutil.which("faketime") or "faketime", "-f", "@" + self.clock.stamp(), str(EXECUTABLE), "read",
                   "--config", str(self.folder / "config.json"), "--catalog", str(self.folder / "catalog.json"),
                   "--state", str(state_path)]
        env = {**os.environ, "DONT_FAKE_MONOTONIC": "1", "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKECLOCK), os.environ.get("PYTHONPATH")]))}
        completed = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=self.folder)
        pending: List[Any] = []
        committed, rate_limited, errors = 0, set(), []
        for line in completed.stdout.splitlines():
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            if message["type"] == "RECORD":
                pending.append((message["record"]["stream"], message["record"]["data"]))
            elif message["type"] == "STATE":
                self.states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
                committed += self._commit(job.number, pending)
            elif message["type"] == "TRACE" and message["trace"]["type"] == "ERROR":
                errors.append(message["trace"]["error"]["message"])
            elif message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
                status = message["trace"]["stream_status"]
                if (status.get("reasons") or [{}])[0].get("type") == "RATE_LIMITED":
                    rate_limited.add(status["stream_descriptor"]["name"])
        if completed.returncode == 0:
            committed += self._commit(job.number, pending)  # the end of the sync flushes the rest
        attempt = Attempt(job.number, len(job.attempts) + 1, started, completed.returncode, committed, rate_limited,
                          errors, time.monotonic() - wall)
        if completed.returncode == 0:
            self.destination.complete(job.number)
        return attempt

    def _commit(self, job: int, pending: List[Any]) -> int:
        for stream, data in pending:
            self.destination.write(job, stream, data)
        count = len(pending)
        pending.clear()
        return count

    # ---- one job ---------------------------------------------------------------------------------------------------
    def job(self) -> Job:
        job = Job(len(self.jobs) + 1, self.clock.now())
        for name in self.destination.overwrite:  # a new job: new generation, state of full-refresh streams cleared
            self.states.pop(name, None)
        successive_empty = empty = with_data = 0
        while True:
            attempt = self.attempt(job)
            job.attempts.append(attempt)
            if attempt.exit_code == 0:
                job.succeeded = True
                break
            if attempt.committed:
                with_data, successive_empty = with_data + 1, 0
            else:
                empty, successive_empty = empty + 1, successive_empty + 1
            if successive_empty >= MAX_SUCCESSIVE_EMPTY or empty >= MAX_EMPTY or with_data >= MAX_WITH_DATA:
                break
            if successive_empty:
                self.clock.advance(min(BACKOFF_MAX, BACKOFF_FIRST * BACKOFF_BASE ** (successive_empty - 1)))
        self.jobs.append(job)
        return job

    # ---- the schedule ----------------------------------------------------------------------------------------------
    def run(self, done, max_days: float) -> Optional[float]:
        """Runs scheduled jobs until `done(destination)` after a succeeded job; returns when (days since start)."""
        tick = 0
        while self.clock.now() - self.started < max_days * DAY:
            self.clock.advance(self.started + tick * self.every - self.clock.now())
            job = self.job()
            if job.succeeded and done(self.destination):
                return (self.clock.now() - self.started) / DAY
            tick = math.floor((self.clock.now() - self.started) / self.every) + 1
        return None

    # ---- what a user (and the platform) sees ---------------------------------------------------------------------
    def day(self, moment: float) -> int:
        return int((moment - self.started) // DAY) + 1

    def longest_failing(self) -> tuple:
        """(most failed jobs in a row, longest time in days without a succeeded job, counted from the start)."""
        in_row = most = 0
        last_success, longest = self.started, 0.0
        for job in self.jobs:
            if job.succeeded:
                in_row, last_success = 0, job.started
            else:
                in_row += 1
                most = max(most, in_row)
                longest = max(longest, (job.started - last_success) / DAY)
        return most, longest

    def timeline(self) -> List[str]:
        lines = []
        for job in self.jobs:
            when = datetime.fromtimestamp(job.started, timezone.utc).strftime("%m-%d %H:%M")
            outcome = "succeeded" if job.succeeded else "failed"
            limited = len(job.attempts[-1].rate_limited)
            lines.append(f"day {self.day(job.started)} {when} job {job.number}: {outcome} after {len(job.attempts)} "
                         f"attempt(s), {sum(a.committed for a in job.attempts)} records, {limited} streams rate-limited, "
                         f"{sum(a.seconds for a in job.attempts):.1f} s")
        return lines


def first_sync_days(cost: int, budget: int, reserve_percent: float = 10, kept: int = 0) -> int:
    """The budget-days a first sync needs: its cost over what a day leaves the connector (the budget less the reserve
    and the `kept` tokens the connector stops short of it: a round of requests in flight, a day of probes)."""
    return math.ceil(cost / (budget * (1 - reserve_percent / 100) - kept))


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def later(moment: datetime, **kwargs: float) -> datetime:
    return moment + timedelta(**kwargs)
