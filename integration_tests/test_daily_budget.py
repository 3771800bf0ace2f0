"""A first sync bigger than a day's API budget: it stops cleanly each day and finishes on the following days.

Pipedrive gives a company one token budget a day (pipedrive-api.md §6.1); once spent, every request is a 429 until
midnight, and a token that keeps calling gets blocked (§6.3). Here the emulator's budget is a fraction of what a
first sync of every stream costs, and the installed command runs once per emulated day from the state it emitted the
day before, as a scheduler would. Each day it must stop within seconds of the budget running out, after at most a
handful of 429s, with one trace; and the destination (records by primary key) must end up holding exactly what one
unlimited sync delivers, within one day more than the budget strictly needs. Every stream here is incremental, so a
run the budget stops ends successfully (exit 0, a warning saying what is left): the platform then marks every stream
complete, which loses nothing, and the connection does not look like it is failing (docs/BEHAVIOR.md §11).
integration_tests/test_platform.py plays the whole platform loop (schedules, retries, auto-disable).
"""

import collections
import math
import time

import pytest

from integration_tests.connector import as_if_hours_later, discovered_catalog, run, token_config
from integration_tests.emulator import Emulator

TOKEN = "daily-budget-e2e-token-51c9"
MAX_429_A_DAY = 30
SECONDS_AFTER_THE_BUDGET = 15


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=8, scale=200, api_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture(scope="module")
def config(emulator):
    return token_config(emulator, TOKEN)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, config):
    return discovered_catalog(tmp_path_factory.mktemp("discover"), config)


def _keys(result, catalog):
    keys = {entry["stream"]["name"]: entry["stream"]["source_defined_primary_key"] for entry in catalog["streams"]}
    out = collections.defaultdict(set)
    for record in result.of_type("RECORD"):
        stream, data = record["record"]["stream"], record["record"]["data"]
        out[stream].add(tuple(data.get(path[0]) for path in keys[stream]))
    return out


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory, emulator, config, catalog):
    """One sync with no budget: what the destination must hold in the end, and what a first sync costs."""
    emulator.set_faults(daily_budget=None)
    emulator.reset_stats()
    result = run(tmp_path_factory.mktemp("unlimited"), "read", config, catalog, timeout=900)
    assert result.returncode == 0 and not result.errors(), result.errors()
    return _keys(result, catalog), emulator.stats()["tokens_total"]


def _day_by_day(tmp_path, emulator, config, catalog, budget, max_days, reserve=0):
    """Runs the sync once per emulated day from the last state; returns the days and the destination."""
    emulator.set_faults(daily_budget=budget)
    states, destination, days = {}, collections.defaultdict(set), []
    try:
        for day in range(1, max_days + 1):
            emulator.new_day()
            (tmp_path / f"day{day}").mkdir()
            # The next day, as far as the connector can tell: the budget memory in its state is a day older.
            result = run(tmp_path / f"day{day}", "read", {**config, "daily_budget_reserve_percent": reserve}, catalog,
                         state=as_if_hours_later(list(states.values()), 24) or None, timeout=600)
            ended = time.time()
            days.append((result, emulator.stats()["today"], ended))
            for message in result.of_type("STATE"):
                states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
            for stream, keys in _keys(result, catalog).items():
                destination[stream] |= keys
            if result.returncode != 0 or not _stopped(result):
                break
    finally:
        emulator.set_faults(daily_budget=None)
    return days, destination


def _stopped(result):
    """The budget stopped this run: its warning, and streams reported rate-limited."""
    warned = any(m["log"]["level"] == "WARN" and "Ending this sync successfully" in m["log"]["message"]
                 for m in result.of_type("LOG"))
    limited = [m for m in result.of_type("TRACE") if m["trace"]["type"] == "STREAM_STATUS"
               and (m["trace"]["stream_status"].get("reasons") or [{}])[0].get("type") == "RATE_LIMITED"]
    assert warned == bool(limited), "a stopped run both warns and marks the unfinished streams rate-limited"
    return warned


def _assert_each_day_stopped_cleanly(days):
    for number, (result, today, ended) in enumerate(days, 1):
        assert today["rate_limited_429"] <= MAX_429_A_DAY, f"day {number}: {today['rate_limited_429']} requests got 429"
        assert TOKEN not in result.stdout + result.stderr
        assert result.returncode == 0 and result.errors() == [], f"day {number}: {result.errors()}"
        # The stop is one warning, not an error log (with its traceback) for each request it refused.
        errors = [m["log"]["message"][:200] for m in result.of_type("LOG") if m["log"]["level"] in ("ERROR", "FATAL")]
        assert errors == [], f"day {number}: {len(errors)} error logs, the first: {errors[:1]}"
        if not _stopped(result):
            continue
        warning = next(m["log"]["message"] for m in result.of_type("LOG") if "Ending this sync successfully" in m["log"]["message"])
        assert "API budget" in warning and "continue" in warning, f"day {number}: {warning}"
        if today["first_daily_429_at"]:
            assert ended - today["first_daily_429_at"] < SECONDS_AFTER_THE_BUDGET, f"day {number} took long to stop"


@pytest.mark.parametrize("share, days_allowed", [(10, 11), (3, 4)], ids=["a tenth of a sync a day", "a third a day"])
def test_a_first_sync_bigger_than_a_day_s_budget_finishes_on_the_following_days_with_every_record(
        share, days_allowed, tmp_path, emulator, config, catalog, unlimited):
    wanted, cost = unlimited
    budget = math.ceil(cost / share)
    days, destination = _day_by_day(tmp_path, emulator, config, catalog, budget, max_days=days_allowed)
    _assert_each_day_stopped_cleanly(days)
    assert not _stopped(days[-1][0]), f"not finished after {len(days)} days of {budget} tokens (a sync costs {cost})"
    assert dict(destination) == dict(wanted)
    # The budget went to what was not done yet: the days together cost little more than one unlimited sync.
    assert sum(today["tokens"] for _, today, _ in days) <= cost * 1.15 + budget


def test_the_reserve_leaves_its_share_of_each_day_s_budget_to_the_company_s_other_integrations(
        tmp_path, emulator, config, catalog, unlimited):
    wanted, cost = unlimited
    budget = math.ceil(cost / 3)
    days, destination = _day_by_day(tmp_path, emulator, config, catalog, budget, max_days=8, reserve=25)
    for number, (result, today, _) in enumerate(days, 1):
        assert today["tokens"] <= budget * 0.75, f"day {number} spent {today['tokens']} of {budget} tokens"
        assert today["rate_limited_429"] == 0, "the reserve stops the sync before Pipedrive has to say no"
        if _stopped(result):
            assert any("daily_budget_reserve_percent" in m["log"]["message"] for m in result.of_type("LOG"))
    assert not _stopped(days[-1][0]) and dict(destination) == dict(wanted)
