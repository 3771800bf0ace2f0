"""A first sync of many budget-days, as the Airbyte platform runs it: scheduled jobs, retried attempts, COMPLETE for
every stream on exit 0, auto-disable after days of failed jobs (integration_tests/platform_model.py).

A 10-user company's account, every stream selected, and a daily API budget that is a fraction of what the first sync
costs. The connection must look like progress, not like a failure: a succeeded job every day until the destination
is exact (so no run of failed jobs could get it disabled), few attempts per job (a retry that costs nothing still
counts), at most one request a day answered 429, no day spending more than the budget minus the reserve (one round
of requests in flight aside), and no overwrite table ever losing rows. At the end every stream holds exactly what
one unlimited sync delivers, by day k + 1, where k is the budget-days the first sync needs: its cost over what a
day leaves the connector (the budget less the reserve, a round in flight, a day of probes, and what a run pays
whatever is left: the change feed and the lists nothing reports changes of). The emulated clock starts where the emulator's budget day resets at midnight in
Los Angeles (08:00 UTC in December), which the connector has to learn.

Each scenario plays days in minutes: every attempt starts the installed command under faketime. Slow by nature, so
marked `platform`; scripts/test (and CI) runs it once.
"""

import concurrent.futures
import copy
import math
import shutil
import statistics

import pytest

from integration_tests.connector import configured_catalog, run
from integration_tests.emulator import Emulator
from integration_tests.platform_model import Connection, Destination, SimClock, first_sync_days, utc

pytestmark = pytest.mark.platform
TOKEN = "platform-e2e-token-3e1f"
SEED, SCALE, USERS = 31, 60, 10
START = utc("2026-12-07 20:00:00")  # 12:00 in Los Angeles
ZONE = "America/Los_Angeles"
RESERVE = 10
IN_FLIGHT = 4 * 40  # four workers, the dearest request each
PROBES = 24 * 2  # a day of hourly 2-token probes: the connector stops this much (and IN_FLIGHT) short of the reserve


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """What one unlimited sync of every stream delivers and costs on this account."""
    if shutil.which("faketime") is None:
        pytest.fail("Debian's faketime is needed (apt-get install faketime); scripts/test installs it where it can")
    folder = tmp_path_factory.mktemp("unlimited")
    with Emulator(seed=SEED, scale=SCALE, users=USERS, api_tokens=(TOKEN,)) as emu:
        config = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emu.base_url}
        discovered = run(folder, "discover", config)
        assert discovered.returncode == 0, discovered.stdout[-2000:]
        catalog = configured_catalog(discovered.of_type("CATALOG")[0])
        result = run(folder, "read", config, catalog, timeout=900)
        assert result.returncode == 0 and not result.errors(), result.errors()
        destination = Destination(catalog)
        for message in result.of_type("RECORD"):
            destination.write(1, message["record"]["stream"], message["record"]["data"])
        cost = emu.stats()["tokens_total"]
        # What every day's first run pays whatever is left to do: the change feed and the lists nothing reports
        # changes of (an unchanged sync of every stream).
        again = run(folder, "read", config, catalog, state=result.final_states(), timeout=900)
        assert again.returncode == 0 and not again.errors(), again.errors()
        return catalog, destination.rows(), cost, emu.stats()["tokens_total"] - cost


def _play(tmp_path, account, every_hours, share, full_refresh):
    catalog, wanted, cost, fixed = account
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        if entry["stream"]["name"] in full_refresh:
            entry.update(sync_mode="full_refresh", destination_sync_mode="overwrite")
    budget = math.ceil(cost / share)
    clock = SimClock(START)
    with Emulator(seed=SEED, scale=SCALE, users=USERS, api_tokens=(TOKEN,), daily_budget=budget, timezone=ZONE,
                  clock=clock.now) as emu:
        config = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emu.base_url}
        connection = Connection(tmp_path, clock, config, catalog, every_hours)
        days = first_sync_days(cost, budget, RESERVE, kept=IN_FLIGHT + PROBES + fixed)
        finished = connection.run(lambda destination: destination.rows() == wanted, max_days=days + 1)
        stats = emu.stats()
    budget_days = stats["days"] + [stats["today"]]
    return connection, finished, days, budget, budget_days, wanted


def _assert_the_platform_saw_progress(connection, finished, days, budget, budget_days, wanted):
    print("\n".join(connection.timeline()))  # pytest shows it when the test fails
    print([(d["date"], d["tokens"], d["rate_limited_429"]) for d in budget_days])
    rows = connection.destination.rows()
    assert finished is not None, f"not exact after {days + 1} days: " + ", ".join(
        f"{s} {len(rows.get(s, ()))}/{len(k)}" for s, k in sorted(wanted.items()) if rows.get(s) != k)
    assert math.ceil(finished) <= days + 1, f"exact on day {math.ceil(finished)}, the budget needs {days} days"
    for day in range(1, math.ceil(finished) + 1):
        assert any(job.succeeded and connection.day(job.started) == day and any(a.committed for a in job.attempts)
                   for job in connection.jobs), f"day {day}: no succeeded job that made progress"
    in_a_row, without_success = connection.longest_failing()
    assert in_a_row < 20 and without_success < 2, "a run of failed jobs that could get the connection disabled"
    for day in budget_days:
        assert day["rate_limited_429"] <= 1, f"{day['date']}: {day['rate_limited_429']} requests answered 429"
        assert day["tokens"] <= budget * (100 - RESERVE) / 100 + IN_FLIGHT, f"{day['date']} spent {day['tokens']} of {budget}"
    assert connection.destination.lost_rows == []


SCENARIOS = {  # name: (hours between scheduled jobs, budget as a fraction of the first sync's cost, full-refresh streams)
    "hourly, a third of a sync a day": (1, 3, ()),
    "daily, a twentieth": (24, 20, ()),
    "6-hourly, a twentieth": (6, 20, ()),
    "6-hourly, a third, some streams in full refresh (overwrite)":
        (6, 3, ("users", "pipelines", "stages", "currencies", "deal_fields", "activity_types")),
}


@pytest.fixture(scope="module")
def played(tmp_path_factory, account):
    """Every scenario, two at a time (each attempt is a process start; the machine has two cores)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_play, tmp_path_factory.mktemp("platform"), account, hours, share, full_refresh)
                   for name, (hours, share, full_refresh) in SCENARIOS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("scenario", [name for name, (_, _, full_refresh) in SCENARIOS.items() if not full_refresh])
def test_a_first_sync_of_many_budget_days_looks_like_progress_and_ends_exact(played, scenario):
    connection, finished, days, budget, budget_days, wanted = played[scenario]
    _assert_the_platform_saw_progress(connection, finished, days, budget, budget_days, wanted)
    attempts = statistics.mean(len(job.attempts) for job in connection.jobs)
    assert attempts <= 1.2, f"{attempts:.2f} attempts per job"
    assert all(job.succeeded for job in connection.jobs), "every stream is incremental: nothing to fail for"


def test_full_refresh_tables_never_lose_rows_and_a_job_still_succeeds_every_day(played):
    # Overwrite tables are replaced by what a job read when it ends successfully: the connector ends successfully
    # only when they are complete, reading them first on the day's first run; the runs before the reset fail.
    connection, finished, days, budget, budget_days, wanted = played[
        "6-hourly, a third, some streams in full refresh (overwrite)"]
    _assert_the_platform_saw_progress(connection, finished, days, budget, budget_days, wanted)
    assert any(not job.succeeded for job in connection.jobs), "runs before the reset fail: the case proves nothing"
