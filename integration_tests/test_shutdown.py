"""A read that ends early never hangs: whatever ends it (the daily budget, revoked credentials, a stream that keeps
failing, a reader that stops reading), the process exits within seconds, with workers still inside requests.

The CDK's worker threads can be blocked mid-partition (in a request, or handing records to a writer that left);
the interpreter would wait for them at exit, forever. Each case starts a read of the core streams against a slow
emulator (requests in flight on every worker), then ends it early and times the exit.
"""

import json
import subprocess
import time

import pytest

from integration_tests.connector import EXECUTABLE, configured_catalog, run
from integration_tests.emulator import Emulator

TOKEN = "shutdown-e2e-token-2b8d"
STREAMS = ["deals", "persons", "organizations", "activities", "deal_flow", "person_flow"]
EXIT_WITHIN_SECONDS = 15


@pytest.fixture(scope="module")
def emulator():
    with Emulator(seed=4, scale=6000, api_tokens=(TOKEN,)) as emu:
        yield emu


@pytest.fixture(autouse=True)
def clean(emulator):
    emulator.set_faults(reset=True)
    emulator.new_day()
    yield
    emulator.set_faults(reset=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory, emulator):
    folder = tmp_path_factory.mktemp("shutdown")
    config = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emulator.base_url,
              "num_workers": 4, "daily_budget_reserve_percent": 0}
    catalog = configured_catalog(run(folder, "discover", config).of_type("CATALOG")[0], streams=STREAMS)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(catalog))
    return folder


def _start(files):
    return subprocess.Popen([str(EXECUTABLE), "read", "--config", str(files / "config.json"), "--catalog",
                             str(files / "catalog.json")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=files)


def _read_until_records(process, count=200):
    records = 0
    for line in process.stdout:
        records += line.startswith(b'{"type":"RECORD"')
        if records >= count:
            return


def _seconds_to_exit(process):
    started = time.monotonic()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the process did not exit by itself within 120 s")
    return time.monotonic() - started


@pytest.mark.parametrize(
    "fault",
    [{"daily_budget": 1}, {"error_every": 1, "error_status": 401},
     {"error_every": 1, "error_status": 400}],
    ids=["the daily budget runs out", "the token is revoked", "every stream fails"],
)
def test_a_read_ended_early_mid_stream_exits_within_seconds(emulator, files, fault):
    emulator.set_faults(latency_ms=30)
    process = _start(files)
    _read_until_records(process)
    emulator.set_faults(**fault, latency_ms=30)
    output = process.stdout.read()  # the rest, so the connector is never blocked by us
    seconds = _seconds_to_exit(process)
    assert seconds < EXIT_WITHIN_SECONDS, f"exited {seconds:.1f} s after the fault"
    if "daily_budget" in fault:  # every stream is incremental: it ends successfully, saying the budget stopped it
        assert process.returncode == 0 and b"Ending this sync successfully" in output
    else:
        assert process.returncode != 0 and b'"type":"TRACE"' in output


def test_a_read_whose_reader_closes_stdout_exits_within_seconds(emulator, files):
    # Over 10,000 records are still to come: the workers fill the CDK's record queue and block there.
    process = _start(files)
    _read_until_records(process)
    process.stdout.close()  # the destination is gone; workers are mid-partition with records to hand over
    seconds = _seconds_to_exit(process)
    assert seconds < EXIT_WITHIN_SECONDS, f"exited {seconds:.1f} s after its reader left"
