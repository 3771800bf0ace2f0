"""Runs the connector image and the installed command side by side against the emulator and compares what they say.

Usage: .venv/bin/python scripts/image_compare.py IMAGE   (scripts/image-test builds IMAGE and calls this)

Each step runs `source-pipedrive` twice with the same inputs: from the image, as Airbyte runs it (`docker run --rm
--network host`, as its non-root user, root filesystem read-only, no capabilities, inputs mounted read-only), and
from .venv/bin/source-pipedrive. Both must exit alike and emit the same spec, connection status, catalog, records
(per stream, in primary-key order, `emitted_at` ignored), final state per stream, errors and CONTROL messages:

  spec; check, discover, read with an unknown token (must fail alike); check; discover; a full read of several
  streams; the emulator changes 5% of its records; an incremental read from the full read's final state;
  a legacy (2.x) config on a writable mount (rewritten in place and announced) and on a read-only one.

The API token is random for each run, lives only in files mounted at run time, and is never printed: every message
shown is redacted, and a token found in any output fails the run. Exit 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from integration_tests.connector import configured_catalog  # noqa: E402

LOCAL = Path(sys.executable).parent / "source-pipedrive"
# A core stream, a custom-field stream, deal children read through their parents (one from the deals, one per
# deal's changelog), and the pipeline stages that every deal refers to.
STREAMS = ["deals", "persons", "organizations", "deal_followers", "deal_changelog", "stages"]
MUTATED_FRACTION = 0.05
UID = 1000  # the base image's `airbyte` user
CONTAINER_INPUT = "/secrets"  # where `docker run` users mount their config; Airbyte's platform uses /config
DOCKER_RUN = ["docker", "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
              "--security-opt", "no-new-privileges"]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    messages: List[Dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    def errors(self) -> List[str]:
        return sorted(m["trace"]["error"]["message"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR")

    def controls(self) -> List[Dict[str, Any]]:
        return [m["control"]["connectorConfig"]["config"] for m in self.of_type("CONTROL")]

    def final_states(self) -> Dict[str, Any]:
        last = {}
        for message in self.of_type("STATE"):
            last[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return last

    def canonical_final_states(self) -> Dict[str, Any]:
        return {stream: _without_clock(state["stream"]) for stream, state in self.final_states().items()}


class Comparison:
    def __init__(self, token: str):
        self.token = token
        self.failures: List[str] = []
        self.warnings: List[str] = []

    def redact(self, text: str) -> str:
        return text.replace(self.token, "<token>")

    def check(self, step: str, what: str, image: Any, local: Any) -> None:
        if image != local:
            self.failures.append(f"{step}: {what} differ\n  image: {self.redact(_short(image))}\n"
                                 f"  local: {self.redact(_short(local))}")

    def require(self, step: str, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(f"{step}: {self.redact(message)}")

    def no_token_in(self, step: str, *outcomes: Outcome) -> None:
        """The token may appear only inside CONTROL messages, which carry the whole config by design."""
        for outcome in outcomes:
            shown = [line for line in outcome.stdout.splitlines() if '"type":"CONTROL"' not in line]
            if self.token in "\n".join(shown) or self.token in outcome.stderr:
                self.failures.append(f"{step}: the API token appears in the connector's output")


# State values that two runs of the same read cannot share: when a deletion scan ran, how far the change feed was
# checked, when reference data was last read and what the budget memory saw (wall clock), and how many seconds the
# previous read of a child stream took (the CDK's lookback window for its global cursor). sourceStats (records since
# the stream's last checkpoint) depends on thread timing and is left out with the rest of the message envelope.
CLOCK_KEYS = {"scanned_at": "<wall clock>", "checked_through": "<wall clock>", "refreshed_at": "<wall clock>",
              "seen_at": "<wall clock>", "stopped_at": "<wall clock>", "lookback_window": "<seconds the read took>"}


def _without_clock(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: CLOCK_KEYS[key] if key in CLOCK_KEYS else _without_clock(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_clock(item) for item in node]
    return node


def _short(value: Any, limit: int = 1500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def parse(completed: subprocess.CompletedProcess, seconds: float) -> Outcome:
    messages = []
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    return Outcome(completed.returncode, completed.stdout, completed.stderr, messages, seconds)


def run_image(image: str, command: str, folder: Path, mount: str = "ro", timeout: int = 600) -> Outcome:
    args = [*DOCKER_RUN, "-v", f"{folder}:{CONTAINER_INPUT}:{mount}", image, command]
    args += _flags(folder, CONTAINER_INPUT)
    started = time.monotonic()
    completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return parse(completed, time.monotonic() - started)


def run_local(command: str, folder: Path, timeout: int = 600) -> Outcome:
    args = [str(LOCAL), command, *_flags(folder, str(folder))]
    started = time.monotonic()
    completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=folder,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return parse(completed, time.monotonic() - started)


def _flags(folder: Path, inside: str) -> List[str]:
    flags = []
    for name in ("config", "catalog", "state"):
        if (folder / f"{name}.json").exists():
            flags += [f"--{name}", f"{inside}/{name}.json"]
    return flags


def inputs(base: Path, name: str, writable: bool = False, **files: Any) -> Path:
    """A folder of JSON files the image's user may read, and with writable=True also rewrite.

    Writable files belong to uid 1000, as the files of the platform's config volume do; without root to chown
    them, they are made writable by everyone instead, as the CDK's own image tests do.
    """
    folder = base / name
    folder.mkdir()
    for stem, content in files.items():
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(content))
        path.chmod(0o644)
        if writable and os.geteuid() == 0:
            os.chown(path, UID, UID)
        elif writable:
            path.chmod(0o666)
    folder.chmod(0o755)
    return folder


def both(image: str, base: Path, step: str, **files: Any):
    folder = inputs(base, step, **files)
    local = run_local(step_command(step), folder)
    in_image = run_image(image, step_command(step), folder)
    print(f"    {step}: image {in_image.seconds:.1f} s (exit {in_image.returncode}), "
          f"local {local.seconds:.1f} s (exit {local.returncode})", flush=True)
    return in_image, local


def step_command(step: str) -> str:
    return step.split("_")[0] if "_" in step else step


def canonical_records(outcome: Outcome, primary_keys: Dict[str, List[List[str]]]) -> Dict[str, List[str]]:
    """Record data per stream, sorted by primary key (then by content), as canonical JSON; emitted_at is left out."""
    per_stream: Dict[str, List[tuple]] = {}
    for message in outcome.of_type("RECORD"):
        record = message["record"]
        data = record["data"]
        key = [_dig(data, path) for path in primary_keys.get(record["stream"], [])]
        per_stream.setdefault(record["stream"], []).append(
            (json.dumps(key, sort_keys=True, default=str), json.dumps(data, sort_keys=True)))
    return {stream: [data for _, data in sorted(rows)] for stream, rows in sorted(per_stream.items())}


def _dig(data: Dict[str, Any], path: List[str]) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


def compare_read(cmp: Comparison, step: str, image: Outcome, local: Outcome, primary_keys) -> Dict[str, List[str]]:
    cmp.check(step, "exit codes", image.returncode, local.returncode)
    cmp.check(step, "errors", image.errors(), local.errors())
    records_image, records_local = canonical_records(image, primary_keys), canonical_records(local, primary_keys)
    cmp.check(step, "streams with records", sorted(records_image), sorted(records_local))
    for stream in sorted(set(records_image) | set(records_local)):
        got, expected = records_image.get(stream, []), records_local.get(stream, [])
        if got != expected:
            only_image = sorted(set(got) - set(expected))[:3]
            only_local = sorted(set(expected) - set(got))[:3]
            cmp.failures.append(cmp.redact(
                f"{step}: records of {stream} differ: {len(got)} from the image, {len(expected)} local\n"
                f"  only in the image: {_short(only_image)}\n  only local: {_short(only_local)}"))
    cmp.check(step, "final states per stream (clock values aside)", image.canonical_final_states(),
              local.canonical_final_states())
    cmp.require(step, set(STREAMS) <= set(local.final_states()),
                f"streams without a final state: {sorted(set(STREAMS) - set(local.final_states()))}")
    cmp.no_token_in(step, image, local)
    counts = {stream: len(rows) for stream, rows in records_local.items()}
    print(f"      records per stream: {counts}", flush=True)
    return records_local


class EmulatorProcess:
    def __init__(self, token: str, scale: int):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "integration_tests.emulator", "--port", "0", "--seed", "18", "--scale", str(scale),
             "--api-token", token], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("EMULATOR_URL="):
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = line.partition("=")[2]

    def hook(self, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/_emulator/{path}", data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main(image: str, scale: int) -> int:
    token = secrets.token_hex(20)
    cmp = Comparison(token)
    emulator = EmulatorProcess(token, scale)
    base = Path(tempfile.mkdtemp(prefix="image-compare-"))
    base.chmod(0o755)
    try:
        config = {"credentials": {"auth_type": "api_token", "api_token": token}, "api_domain": emulator.url}
        print(f"==> comparing {image} with {LOCAL} (emulator at {emulator.url}, scale {scale})", flush=True)

        image_run, local = both(image, base, "spec")
        cmp.check("spec", "exit codes", image_run.returncode, local.returncode)
        cmp.check("spec", "SPEC messages", image_run.of_type("SPEC"), local.of_type("SPEC"))
        cmp.require("spec", len(local.of_type("SPEC")) == 1, "the installed command emitted no single SPEC")

        bad = {**config, "credentials": {"auth_type": "api_token", "api_token": "not-" + token[:8]}}
        for step in ("check_bad_token", "discover_bad_token"):
            image_run, local = both(image, base, step, config=bad)
            cmp.check(step, "exit codes", image_run.returncode, local.returncode)
            cmp.check(step, "connection statuses", image_run.of_type("CONNECTION_STATUS"),
                      local.of_type("CONNECTION_STATUS"))
            cmp.check(step, "errors", image_run.errors(), local.errors())
            cmp.check(step, "catalogs", image_run.of_type("CATALOG"), local.of_type("CATALOG"))
            failed = ([m["connectionStatus"]["status"] for m in image_run.of_type("CONNECTION_STATUS")] == ["FAILED"]
                      if step.startswith("check") else bool(image_run.errors()) and not image_run.of_type("CATALOG"))
            cmp.require(step, failed, "an unknown token did not fail in the image")

        image_run, local = both(image, base, "check", config=config)
        cmp.check("check", "exit codes", image_run.returncode, local.returncode)
        cmp.check("check", "connection statuses", image_run.of_type("CONNECTION_STATUS"),
                  local.of_type("CONNECTION_STATUS"))
        cmp.require("check", [m["connectionStatus"]["status"] for m in image_run.of_type("CONNECTION_STATUS")]
                    == ["SUCCEEDED"], f"check in the image did not succeed: {image_run.errors()}")
        cmp.no_token_in("check", image_run, local)

        image_run, local = both(image, base, "discover", config=config)
        catalogs = [m["catalog"] for m in local.of_type("CATALOG")]
        cmp.check("discover", "exit codes", image_run.returncode, local.returncode)
        cmp.check("discover", "catalogs", [m["catalog"] for m in image_run.of_type("CATALOG")], catalogs)
        cmp.require("discover", len(catalogs) == 1, f"the installed command emitted {len(catalogs)} catalogs")
        if cmp.failures:
            return report(cmp)
        catalog_message = local.of_type("CATALOG")[0]
        primary_keys = {s["name"]: s.get("source_defined_primary_key") or [] for s in catalogs[0]["streams"]}
        missing = sorted(set(STREAMS) - set(primary_keys))
        cmp.require("discover", not missing, f"the catalog lacks the streams this test reads: {missing}")
        catalog = configured_catalog(catalog_message, streams=STREAMS)

        image_run, local = both(image, base, "read_full", config=config, catalog=catalog)
        full = compare_read(cmp, "read_full", image_run, local, primary_keys)
        for stream in STREAMS:
            cmp.require("read_full", bool(full.get(stream)), f"the full read returned no {stream} record")

        changed = emulator.hook("mutate", {"update_fraction": MUTATED_FRACTION})
        print(f"    emulator: updated {sum(len(v['updated']) for v in changed.values())} records", flush=True)
        state = list(local.final_states().values())
        image_run, local = both(image, base, "read_incremental", config=config, catalog=catalog, state=state)
        incremental = compare_read(cmp, "read_incremental", image_run, local, primary_keys)
        for stream, entity in (("deals", "deals"), ("persons", "persons"), ("organizations", "organizations")):
            read_ids = {json.loads(row).get("id") for row in incremental.get(stream, [])}
            missed = sorted(set(changed.get(entity, {}).get("updated", [])) - read_ids)
            cmp.require("read_incremental", not missed, f"{stream} changed but not read again: ids {missed[:10]}")
        cmp.require("read_incremental", sum(map(len, incremental.values())) < sum(map(len, full.values())),
                    "the incremental read returned as many records as the full read: did it use the state?")

        legacy_configs(cmp, image, base, token, emulator.url)
    finally:
        emulator.stop()
        shutil.rmtree(base, ignore_errors=True)
    return report(cmp)


def legacy_configs(cmp: Comparison, image: str, base: Path, token: str, url: str) -> None:
    """A 2.x config: rewritten in place and announced with a CONTROL message, from the image as from the package.

    On a writable mount (the platform's config volume, or a file uid 1000 may write) the image must behave like the
    installed command. On a read-only mount the connector cannot rewrite the file; it should still announce the new
    shape and go on, and this reports what it does instead.
    """
    legacy = {"api_token": token, "api_domain": url}
    migrated = {"credentials": {"auth_type": "api_token", "api_token": token}, "api_domain": url}

    local_folder = inputs(base, "legacy_local", config=legacy)
    local = run_local("check", local_folder)
    writable = inputs(base, "legacy_writable", writable=True, config=legacy)
    image_run = run_image(image, "check", writable, mount="rw")
    print(f"    legacy config, writable mount: image {image_run.seconds:.1f} s (exit {image_run.returncode}), "
          f"local {local.seconds:.1f} s (exit {local.returncode})", flush=True)
    step = "legacy_config_writable"
    cmp.check(step, "exit codes", image_run.returncode, local.returncode)
    cmp.check(step, "connection statuses", image_run.of_type("CONNECTION_STATUS"), local.of_type("CONNECTION_STATUS"))
    cmp.check(step, "CONTROL messages", image_run.controls(), local.controls())
    cmp.check(step, "rewritten config files", json.loads((writable / "config.json").read_text()),
              json.loads((local_folder / "config.json").read_text()))
    cmp.require(step, local.controls() == [migrated], "the installed command did not announce the migrated config")
    cmp.require(step, json.loads((writable / "config.json").read_text()) == migrated,
                "the image did not rewrite the mounted config in today's shape")
    cmp.no_token_in(step, image_run, local)

    read_only = inputs(base, "legacy_read_only", config=legacy)
    image_run = run_image(image, "check", read_only, mount="ro")
    statuses = [m["connectionStatus"]["status"] for m in image_run.of_type("CONNECTION_STATUS")]
    print(f"    legacy config, read-only mount: image exit {image_run.returncode}, statuses {statuses}, "
          f"CONTROL messages {len(image_run.controls())}", flush=True)
    cmp.no_token_in("legacy_config_read_only", image_run)
    if image_run.controls() == [migrated] and statuses == ["SUCCEEDED"] and image_run.returncode == 0:
        return
    cmp.warnings.append(cmp.redact(
        "legacy_config_read_only: a 2.x config on a read-only mount stops the connector before it starts "
        f"(exit {image_run.returncode}, no CONTROL message): {image_run.errors()}. The CDK writes the migrated "
        "config back before it announces it, and the write fails; the fix belongs in source_pipedrive/ "
        "(README.md, \"Docker\")."))


def report(cmp: Comparison) -> int:
    for warning in cmp.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if cmp.failures:
        print(f"\nThe image and the installed command differ ({len(cmp.failures)}):", file=sys.stderr)
        for failure in cmp.failures:
            print(f"- {failure}", file=sys.stderr)
        return 1
    print("==> the image and the installed command agree on every step", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 200))
