"""Faults Pipedrive's clients meet, against the emulator: every sync must end with all records or stop cleanly.

Each case runs the installed command on the core streams and compares the ids read with the emulator's truth.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from integration_tests.connector import as_if_hours_later, EXECUTABLE, configured_catalog, run
from integration_tests.emulator import Emulator

TOKEN = "fault-suite-token-0e7d"
STREAMS = ["deals", "persons", "organizations", "activities"]


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=3, scale=1600, api_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture(autouse=True)
def clean_faults(emulator):
    emulator.set_faults(reset=True)
    emulator.reset_daily_budget()
    emulator.reset_stats()
    yield
    emulator.set_faults(reset=True)


@pytest.fixture(scope="module")
def config(emulator):
    return {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emulator.base_url,
            "num_workers": 4}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, config):
    discovered = run(tmp_path_factory.mktemp("discover"), "discover", config)
    return configured_catalog(discovered.of_type("CATALOG")[0], streams=STREAMS)


@pytest.fixture(scope="module")
def expected(emulator):
    def ids(stream):
        return sorted(i for i, r in emulator.truth(stream).items()
                      if not (r.get("is_deleted") and stream != "deals") and not r.get("is_archived"))
    return {stream: ids(stream) for stream in STREAMS}


def _ids(records):
    return sorted({r["id"] for r in records})


def _assert_complete(result, expected):
    assert result.returncode == 0 and not result.errors(), result.errors()
    for stream in STREAMS:
        assert _ids(result.records(stream)) == expected[stream], stream
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "faults",
    [
        {"burst_limit": 4},  # 17 requests: a limit this low is reached even when a loaded machine spreads them out
        {"error_every": 4, "error_status": 500},
        {"error_every": 5, "error_status": 503},
        {"html_every": 6},
        {"drop_every": 5},
        {"truncate_every": 4},
        {"latency_ms": 150},
    ],
    ids=["burst 429s", "500 every 4th", "503 every 5th", "html error pages", "dropped connections",
         "truncated json", "slow responses"],
)
def test_a_sync_through_transient_faults_ends_with_every_record(tmp_path, emulator, config, catalog, expected, faults):
    emulator.set_faults(**faults)
    result = run(tmp_path, "read", config, catalog)
    _assert_complete(result, expected)
    if "burst_limit" in faults:
        statuses = emulator.stats()["statuses"]
        assert statuses.get("429", 0) > 0, "the burst limit was never reached: the case proves nothing"
        assert statuses.get("403", 0) == 0, "the connector kept hammering after 429s and got blocked"


def test_an_exhausted_daily_budget_stops_cleanly_and_the_next_sync_resumes(tmp_path, emulator, config, catalog,
                                                                            expected):
    # Enough tokens for some pages, not for all: the sync must stop with a message, keep the states it emitted,
    # and the next sync (after the budget resets) must end with every record.
    # Every stream is incremental, so the stopped sync ends successfully and says so (nothing is lost by it).
    emulator.set_faults(daily_budget=60)
    first = run(tmp_path, "read", config, catalog)
    warnings = [m["log"]["message"] for m in first.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert first.returncode == 0 and not first.errors(), first.errors()
    assert any("daily API budget" in w and "resets at midnight" in w and "Ending this sync successfully" in w
               for w in warnings), "the sync must report that the budget ran out"
    emulator.set_faults(reset=True)
    emulator.reset_daily_budget()
    second = run(tmp_path, "read", config, catalog, state=as_if_hours_later(first.final_states(), 25) or None)
    assert second.returncode == 0 and not second.errors(), second.errors()
    for stream in STREAMS:
        assert _ids(first.records(stream) + second.records(stream)) == expected[stream], stream


def test_a_sync_killed_at_any_moment_resumes_from_its_last_state_without_a_gap(tmp_path, emulator, config,
                                                                               catalog, expected):
    emulator.set_faults(latency_ms=40)
    for name, content in (("config.json", config), ("catalog.json", catalog)):
        (tmp_path / name).write_text(json.dumps(content))
    process = subprocess.Popen(
        [str(EXECUTABLE), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    lines, states, started = [], {}, time.monotonic()
    for line in process.stdout:
        lines.append(line)
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("type") == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        # Kill once one stream has finished and others are mid-way.
        if states and sum('"type":"RECORD"' in l for l in lines) > 1500 or time.monotonic() - started > 60:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    emulator.set_faults(reset=True)
    first_records = [json.loads(l)["record"]["data"] | {"_stream": json.loads(l)["record"]["stream"]}
                     for l in lines if '"type":"RECORD"' in l]
    second = run(tmp_path, "read", config, catalog, state=list(states.values()) or None)
    assert second.returncode == 0 and not second.errors(), second.errors()
    for stream in STREAMS:
        before = [r for r in first_records if r["_stream"] == stream]
        assert _ids(before + second.records(stream)) == expected[stream], stream


def test_records_updated_while_a_sync_pages_through_are_neither_skipped_nor_lost(tmp_path, emulator, config, catalog,
                                                                                  expected):
    # Each update moves a record to the end of the ascending update_time order mid-sync. No other record may be
    # skipped by that, and each updated record's new version arrives in this sync or the next incremental one.
    emulator.set_faults(latency_ms=40)
    for name, content in (("config.json", config), ("catalog.json", catalog)):
        (tmp_path / name).write_text(json.dumps(content))
    process = subprocess.Popen(
        [str(EXECUTABLE), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    lines, changed = [], None
    for line in process.stdout:
        lines.append(line)
        if changed is None and sum('"type":"RECORD"' in l for l in lines[-50:]) and len(lines) > 800:
            changed = emulator.mutate(update_fraction=0.05, entities=STREAMS)
    assert process.wait() == 0 and changed is not None
    emulator.set_faults(reset=True)
    messages = [json.loads(l) for l in lines if l.startswith("{")]
    first = {}
    for m in messages:
        if m["type"] == "RECORD":
            first.setdefault(m["record"]["stream"], []).append(m["record"]["data"])
    for stream in STREAMS:
        assert _ids(first[stream]) == expected[stream], stream
    states = {m["state"]["stream"]["stream_descriptor"]["name"]: m["state"] for m in messages if m["type"] == "STATE"}
    second = run(tmp_path, "read", config, catalog, state=list(states.values()))
    assert second.returncode == 0 and not second.errors(), second.errors()
    for stream in STREAMS:
        truth = emulator.truth(stream)
        emitted = {(r["id"], r["update_time"]) for r in first[stream] + second.records(stream)}
        latest = {(i, truth[i]["update_time"]) for i in changed[stream]["updated"] if not truth[i].get("is_archived")}
        assert latest and latest <= emitted, f"{stream}: {len(latest - emitted)} updates lost"
