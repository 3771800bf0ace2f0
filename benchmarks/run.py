r"""Throughput benchmark of the installed `source-pipedrive` command against the local Pipedrive emulator.

    .venv/bin/python benchmarks/run.py --scale 50000 \
        [--streams deals persons organizations activities] [--burst-limit N] [--workers N] [--repeat N] \
        [--out benchmarks/results/<date>-<host>-<cpus>cpu-s<scale>[-burst<N>].json]

What it does (see benchmarks/README.md for how to read the numbers):

1. Starts the emulator CLI (`python -m integration_tests.emulator`, same interpreter) in its own process, so the
   server does not share a GIL or a CPU budget line with what is measured.
2. Runs `source-pipedrive discover` and configures the chosen streams as incremental.
3. Full sync: a bare stdlib baseline (benchmarks/baseline.py) once to warm the emulator's render cache (reported as
   `baseline_cold`), then the connector, then the baseline again (`baseline`, the reference for the ratios).
4. POST /_emulator/mutate {"update_fraction": 0.01}, then the same three runs as an incremental sync: the connector
   starts from the final state of step 3, the baseline from the same updated_since values.

Each run is a subprocess: user+sys CPU from os.wait4 (its own rusage), peak RSS from its /proc VmHWM.
The connector's stdout is a pipe read here line by line; a RECORD line is only counted (its stream name is sliced
out of a fixed prefix), only STATE/TRACE lines are parsed. Emulator /_emulator/stats is reset before every run, so
HTTP requests, 429s and rate-limit tokens are the run's own. With --burst-limit the limit applies to the connector
runs only (the baseline runs with it lifted) and the report adds the floor: requests needed / (N / 2 s).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from integration_tests.connector import configured_catalog  # noqa: E402
from source_pipedrive.custom_fields import CustomFieldMap  # noqa: E402


CONNECTOR = Path(sys.executable).parent / "source-pipedrive"
CORE_STREAMS = ["deals", "persons", "organizations", "activities"]
TOKEN = "bench-token"
RECORD_PREFIX = b'{"type":"RECORD","record":{"stream":"'
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- what the connector requests, from its installed manifest -----------------------------------------------

def installed_manifest() -> Path:
    """The manifest.yaml inside the installed wheel, i.e. what `source-pipedrive` runs (not the working tree)."""
    return Path(metadata.distribution("source-pipedrive").locate_file("source_pipedrive/manifest.yaml"))


def request_spec(streams) -> dict:
    """Per stream: endpoint, fields endpoint, static request_parameters and page size, resolved like the CDK does.

    The baseline is given exactly these, so it keeps sending the connector's requests when the manifest changes.
    """
    import yaml
    from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver

    resolved = ManifestReferenceResolver().preprocess_manifest(yaml.safe_load(installed_manifest().read_text()))
    spec = {}
    for stream in resolved.get("streams", []):
        parameters = stream.get("$parameters") or {}
        name = stream.get("name") or parameters.get("name")
        if name not in streams:
            continue
        retriever = stream["retriever"]
        retriever = retriever.get("retriever", retriever)  # CheckpointedRead / DeletionScan wrap the stream's own
        requester = retriever["requester"]
        api_path, fields_path = parameters.get("api_path", ""), parameters.get("fields_path")
        if not api_path.startswith("api/v2/"):
            raise SystemExit(f"{name}: only API v2 list streams are benchmarked (api_path {api_path!r})")
        params = requester.get("request_parameters") or {}
        dynamic = [k for k, v in params.items() if "{{" in str(v)]
        if dynamic:
            raise SystemExit(f"{name}: request_parameters {dynamic} are interpolated; teach run.py to resolve them")
        page_size = (((retriever.get("paginator") or {}).get("pagination_strategy") or {}).get("page_size")) or 500
        start_option = ((stream.get("incremental_sync") or {}).get("start_time_option") or {}).get("field_name")
        if start_option not in (None, "updated_since"):
            raise SystemExit(f"{name}: start_time_option {start_option!r} is not updated_since")
        spec[name] = {"endpoint": api_path[len("api/v2/"):],
                      "fields_endpoint": fields_path[len("api/v2/"):] if fields_path else None,
                      "params": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()},
                      "page_size": int(page_size)}
    missing = set(streams) - set(spec)
    if missing:
        raise SystemExit(f"streams not in the installed manifest: {sorted(missing)}")
    return spec


# ---- emulator (separate process) ----------------------------------------------------------------------------

class EmulatorProcess:
    def __init__(self, scale: int, seed: int, burst_limit, workdir: Path):
        cmd = [sys.executable, "-m", "integration_tests.emulator", "--port", "0", "--seed", str(seed),
               "--scale", str(scale), "--api-token", TOKEN]
        if burst_limit:
            cmd += ["--burst-limit", str(burst_limit)]
        self.log = open(workdir / "emulator.stderr", "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self.log,
                                     env={**os.environ, "PYTHONPATH": str(REPO)})
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("EMULATOR_URL="):
            self.stop()
            raise SystemExit(f"emulator did not start: {line!r}; see {workdir / 'emulator.stderr'}")
        self.url = line.split("=", 1)[1]
        self.startup_s = time.perf_counter() - t0
        self.burst_limit = burst_limit

    def hook(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def set_burst_limit(self, limit) -> None:
        if self.burst_limit:
            self.hook("POST", "faults", {"burst_limit": limit})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---- measured subprocesses ----------------------------------------------------------------------------------

def _machine_cpu() -> tuple:
    """(busy, steal) seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


class _HighWaterMark(threading.Thread):
    """Polls /proc/<pid>/status VmHWM (peak RSS of the process's own address space since exec).

    os.wait4's ru_maxrss is not used for the peak: Linux carries the parent's RSS high-water mark into a child
    through fork/vfork + exec, so a child's ru_maxrss is never below the harness's own RSS.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.path, self.interval, self.kb = f"/proc/{pid}/status", interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def sample(self) -> None:
        try:
            with open(self.path, "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        self.kb = max(self.kb, int(line.split()[1]))
                        return
        except (OSError, ValueError):
            pass


def _measure(cmd, workdir: Path, name: str, consume, timeout: float, emu: EmulatorProcess) -> dict:
    """Run cmd, feed its stdout to consume(stream), and return wall/CPU/RSS of that process alone."""
    emu.hook("POST", "stats/reset")
    load_before = os.getloadavg()[0]
    emu_cpu0, self0, machine0 = emu.cpu_s(), resource.getrusage(resource.RUSAGE_SELF), _machine_cpu()
    err = open(workdir / f"{name}.stderr", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=err, bufsize=1 << 20)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    hwm = _HighWaterMark(proc.pid)
    hwm.start()
    try:
        extra = consume(proc.stdout, t0)
    finally:
        hwm.sample()  # stdout is closed: the process is exiting, its address space (mostly) still there
        hwm.done.set()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.close()
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    machine1, emu_cpu = _machine_cpu(), emu.cpu_s() - emu_cpu0
    stats = emu.hook("GET", "stats")
    cpu = ru.ru_utime + ru.ru_stime
    harness_cpu = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
    out = {
        "exit_code": proc.returncode, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "cpu_user_s": round(ru.ru_utime, 3), "cpu_sys_s": round(ru.ru_stime, 3),
        "peak_rss_mb": round(hwm.kb / 1024, 1), "ru_maxrss_mb_upper_bound": round(ru.ru_maxrss / 1024, 1),
        "emulator_cpu_s": round(emu_cpu, 3), "harness_cpu_s": round(harness_cpu, 3),
        # CPU the rest of the machine used meanwhile (other people's tests...): noise if not ~0
        "foreign_cpu_s": round(max(0.0, machine1[0] - machine0[0] - cpu - emu_cpu - harness_cpu), 2),
        "steal_s": round(machine1[1] - machine0[1], 2),
        "loadavg_1m_before": round(load_before, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
        **extra, "emulator_stats": stats,
    }
    if proc.returncode != 0:
        tail = (workdir / f"{name}.stderr").read_text(errors="replace")[-2000:]
        out["stderr_tail"] = tail
        print(f"!! {name} exited with {proc.returncode}; stderr tail:\n{tail}", file=sys.stderr)
    return out


def _consume_connector(stdout, t0: float) -> dict:
    """Count RECORD lines per stream (slice, no JSON parse); parse only STATE and error TRACE lines."""
    counts, first, last = {}, {}, {}
    states, errors = {}, []
    n_prefix = len(RECORD_PREFIX)
    other = deletions = 0
    clock = time.perf_counter
    for line in stdout:
        if line.startswith(RECORD_PREFIX):
            stream = line[n_prefix:line.index(b'"', n_prefix)]
            n = counts.get(stream)
            if n is None:
                counts[stream], first[stream] = 1, clock()
            else:
                counts[stream] = n + 1
            last[stream] = clock()
            if stream != b"deals" and b'"_ab_cdc_deleted_at":"' in line:
                deletions += 1
            continue
        other += 1
        if line.startswith(b'{"type":"STATE"'):
            msg = orjson.loads(line)
            states[msg["state"]["stream"]["stream_descriptor"]["name"]] = msg["state"]
        elif line.startswith(b'{"type":"TRACE"') and b'"type":"ERROR"' in line:
            errors.append(orjson.loads(line)["trace"]["error"]["message"])
    end = clock()
    streams = {}
    for s, n in counts.items():
        name = s.decode()
        streams[name] = {"records": n, "first_record_s": round(first[s] - t0, 3),
                         "last_record_s": round(last[s] - t0, 3)}
    return {"records": sum(counts.values()), "streams": streams, "other_messages": other,
            "time_to_first_record_s": round(min(first.values()) - t0, 3) if first else None,
            "stdout_closed_s": round(end - t0, 3), "errors": errors, "_states": states, "deletions": deletions}


def _consume_baseline(stdout, t0: float) -> dict:
    report = json.loads(stdout.read() or b"{}")
    return {"records": report.get("records", 0), "streams": report.get("streams", {}),
            "baseline_internal_wall_s": report.get("wall_s"), "baseline_429": report.get("rate_limited_429", 0)}


def run_connector(workdir, name, config_path, catalog_path, state, timeout, emu) -> dict:
    cmd = [str(CONNECTOR), "read", "--config", str(config_path), "--catalog", str(catalog_path)]
    if state is not None:
        state_path = workdir / f"{name}.state.json"
        state_path.write_text(json.dumps(state))
        cmd += ["--state", str(state_path)]
    return _measure(cmd, workdir, name, _consume_connector, timeout, emu)


def run_baseline(workdir, name, streams, since: dict, timeout, emu) -> dict:
    cmd = [sys.executable, str(HERE / "baseline.py"), "--url", emu.url, "--token", TOKEN, "--streams", *streams,
           "--spec", str(workdir / "spec.json")]
    if since:
        cmd += ["--updated-since", *(f"{k}={v}" for k, v in since.items())]
    emu.set_burst_limit(None)  # the baseline is the unthrottled reference
    try:
        return _measure(cmd, workdir, name, _consume_baseline, timeout, emu)
    finally:
        emu.set_burst_limit(emu.burst_limit)


# ---- derived numbers ----------------------------------------------------------------------------------------

def _path_to_stream(spec) -> dict:
    """'GET /api/v2/deals' -> 'deals'; a fields endpoint goes to the first selected stream that reads it."""
    mapping = {}
    for s, info in spec.items():
        mapping[f"GET /api/v2/{info['endpoint']}"] = s
        if info.get("fields_endpoint"):
            mapping.setdefault(f"GET /api/v2/{info['fields_endpoint']}", s)
    return mapping


def _per_1k(n, records):
    return round(1000 * n / records, 2) if records else None


def derive(run: dict, spec: dict, burst_limit=None) -> dict:
    streams = list(spec)
    stats = run["emulator_stats"]
    mapping = _path_to_stream(spec)
    list_paths = {f"GET /api/v2/{info['endpoint']}" for info in spec.values()}
    per = {s: {"records": 0, "requests": 0, "tokens": 0, "served_records": 0} for s in streams}
    per_other = {"requests": 0, "tokens": 0}
    for key, n in stats["requests"].items():
        s = mapping.get(key)
        tgt = per[s] if s else per_other
        tgt["requests"] += n
        tgt["tokens"] += stats["tokens_by_path"].get(key, 0)
        if key in list_paths:
            tgt["served_records"] += stats["records_by_path"].get(key, 0)
    for s in streams:
        info = run["streams"].get(s, {})
        per[s]["records"] = info.get("records", 0)
        for k in ("first_record_s", "last_record_s", "wall_s"):
            if k in info:
                per[s][k] = info[k]
        if "wall_s" in info and info["wall_s"]:
            per[s]["records_per_s"] = round(per[s]["records"] / info["wall_s"], 1)
        per[s]["requests_per_1k"] = _per_1k(per[s]["requests"], per[s]["records"])
        per[s]["tokens_per_1k"] = _per_1k(per[s]["tokens"], per[s]["records"])
    records = run["records"]
    requests = sum(stats["requests"].values())
    rejected = stats.get("rate_limited_429", 0) + stats.get("blocked_403_html", 0)
    total = {
        "records": records, "wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
        "records_per_s": round(records / run["wall_s"], 1) if run["wall_s"] else None,
        "cpu_records_per_s": round(records / run["cpu_s"], 1) if run["cpu_s"] else None,
        "peak_rss_mb": run["peak_rss_mb"], "requests": requests, "tokens": stats["tokens_total"],
        "requests_per_1k": _per_1k(requests, records), "tokens_per_1k": _per_1k(stats["tokens_total"], records),
        "rate_limited_429": stats.get("rate_limited_429", 0), "blocked_403_html": stats.get("blocked_403_html", 0),
        "served_records": sum(stats["records_by_path"].get(k, 0) for k in list_paths),
    }
    if per_other["requests"]:
        total["other_requests"] = per_other
    if burst_limit:
        needed = requests - rejected
        floor = needed / (burst_limit / 2.0)
        total["burst"] = {"burst_limit": burst_limit, "requests_needed": needed, "floor_s": round(floor, 2),
                          "wall_over_floor": round(run["wall_s"] / floor, 2) if floor else None,
                          "rate_limited_429": stats.get("rate_limited_429", 0),
                          "blocked_403_html": stats.get("blocked_403_html", 0)}
    run["per_stream"] = per
    run["total"] = total
    return run


def ratios(conn: dict, base: dict) -> dict:
    c, b = conn["total"], base["total"]

    def r(k):
        return round(c[k] / b[k], 3) if c.get(k) and b.get(k) else None
    return {"records_per_s": r("records_per_s"), "cpu_records_per_s": r("cpu_records_per_s")}


# ---- report -------------------------------------------------------------------------------------------------

def _fmt(v, spec=",.0f"):
    return "-" if v is None else format(v, spec)


def print_phase(title: str, phase: dict, streams) -> None:
    conn, base, cold = phase["connector"], phase["baseline"], phase["baseline_cold"]
    print(f"\n== {title} ==")
    print(f"{'stream':<16}{'records':>10}{'req/1k':>9}{'tok/1k':>9}{'first→last rec s':>19}{'base rec/s':>12}")
    for s in streams:
        p, bp = conn["per_stream"][s], base["per_stream"][s]
        span = f"{p.get('first_record_s', 0):.1f}→{p.get('last_record_s', 0):.1f}" if "first_record_s" in p else "-"
        print(f"{s:<16}{p['records']:>10,}{_fmt(p['requests_per_1k'], '.2f'):>9}{_fmt(p['tokens_per_1k'], '.1f'):>9}"
              f"{span:>19}{_fmt(bp.get('records_per_s')):>12}")
    hdr = (f"{'run':<16}{'records':>10}{'wall s':>8}{'cpu s':>8}{'rec/s':>9}{'cpu rec/s':>10}{'RSS MB':>8}"
           f"{'req/1k':>8}{'tok/1k':>8}{'emu cpu':>8}")
    print(hdr)
    for label, run in (("connector", conn), ("baseline", base), ("baseline cold", cold)):
        t = run["total"]
        print(f"{label:<16}{t['records']:>10,}{t['wall_s']:>8.2f}{t['cpu_s']:>8.2f}{_fmt(t['records_per_s']):>9}"
              f"{_fmt(t['cpu_records_per_s']):>10}{t['peak_rss_mb']:>8.0f}{_fmt(t['requests_per_1k'], '.2f'):>8}"
              f"{_fmt(t['tokens_per_1k'], '.1f'):>8}{run['emulator_cpu_s']:>8.2f}")
    r = phase["ratio_to_baseline"]
    print(f"connector / baseline: records/s x{_fmt(r['records_per_s'], '.3f')}, "
          f"CPU records/s x{_fmt(r['cpu_records_per_s'], '.3f')}; "
          f"time to first record {_fmt(conn.get('time_to_first_record_s'), '.2f')} s; "
          f"harness reader CPU {conn['harness_cpu_s']:.2f} s")
    for label, runs in (phase.get("repeats") or {}).items():
        print(f"{label} runs (median shown): wall " + " / ".join(f"{r['wall_s']:.2f}" for r in runs)
              + " s; rec/s " + " / ".join(_fmt(r["records_per_s"]) for r in runs))
    b = conn["total"].get("burst")
    if b:
        print(f"burst limit {b['burst_limit']}/2 s: {b['requests_needed']} requests needed -> floor "
              f"{b['floor_s']:.1f} s; wall / floor = {_fmt(b['wall_over_floor'], '.2f')}; "
              f"429s served {b['rate_limited_429']}, 403 blocks {b['blocked_403_html']}")
    for w in phase.get("warnings", []):
        print(f"!! {w}")


# ---- metadata -----------------------------------------------------------------------------------------------

def _git(*args) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _digest(path: Path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _installed_matches_tree() -> bool | None:
    """True when the installed source_pipedrive package equals the working tree (so we measure what is checked out)."""
    try:
        installed = installed_manifest().parent
    except metadata.PackageNotFoundError:
        return None
    if installed.resolve() == (REPO / "source_pipedrive").resolve():  # editable install
        return True
    pairs = [(REPO / "manifest.yaml", installed / "manifest.yaml")]
    pairs += [(p, installed / p.name) for p in (REPO / "source_pipedrive").glob("*.py")]
    return all(_digest(a) == _digest(b) for a, b in pairs)


def machine_info() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(), "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model, "platform": platform.platform(), "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cdk_version": metadata.version("airbyte-cdk"), "connector_version": metadata.version("source-pipedrive"),
        "orjson_version": metadata.version("orjson"),
        "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED"),
        "git_commit": _git("rev-parse", "--short", "HEAD"), "git_dirty": bool(_git("status", "--porcelain")),
        "installed_package_matches_tree": _installed_matches_tree(),
        "installed_manifest_sha256": _digest(installed_manifest())[:16],
    }


# ---- main ---------------------------------------------------------------------------------------------------

def _median_run(runs: list) -> dict:
    """The run with the median wall time (the faster middle one for an even count); all runs stay in the JSON."""
    return sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]


def _brief(run: dict) -> dict:
    t = run["total"]
    return {k: t[k] for k in ("records", "wall_s", "cpu_s", "records_per_s", "cpu_records_per_s", "peak_rss_mb")} | {
        "foreign_cpu_s": run["foreign_cpu_s"], "time_to_first_record_s": run.get("time_to_first_record_s")}


def phase(emu, workdir, kind, spec, config_path, catalog_path, state, since, timeout, burst_limit,
          repeat: int = 1) -> dict:
    streams = list(spec)
    cold = derive(run_baseline(workdir, f"{kind}-baseline-cold", streams, since, timeout, emu), spec)
    conns, bases = [], []
    for i in range(repeat):  # interleaved, so both see the same machine conditions
        conns.append(derive(run_connector(workdir, f"{kind}-connector-{i}", config_path, catalog_path, state,
                                          timeout, emu), spec, burst_limit))
        bases.append(derive(run_baseline(workdir, f"{kind}-baseline-{i}", streams, since, timeout, emu), spec))
    conn, base = _median_run(conns), _median_run(bases)
    warnings = []
    for s in streams:
        c, b = conn["per_stream"][s]["records"], base["per_stream"][s]["records"]
        if c != b:
            warnings.append(f"{kind}: {s}: connector emitted {c:,} records, baseline read {b:,}")
    for label, run in (("connector", conn), ("baseline", base)):
        if run["foreign_cpu_s"] > 0.1 * run["wall_s"] and run["foreign_cpu_s"] > 0.2:
            warnings.append(f"{kind}: other processes used {run['foreign_cpu_s']:.1f} CPU s during the {label} run "
                            f"({run['wall_s']:.1f} s wall): the machine was not idle, timings are noisy")
    for run in conns:
        if run["exit_code"] != 0 or run["errors"]:
            warnings.append(f"{kind}: connector exit {run['exit_code']}, errors: {run['errors'][:3]}")
    if conn["total"].get("other_requests"):
        warnings.append(f"{kind}: connector made requests outside the selected streams: "
                        f"{ {k: v for k, v in conn['emulator_stats']['requests'].items()} }")
    out = {"connector": conn, "baseline": base, "baseline_cold": cold,
           "ratio_to_baseline": ratios(conn, base), "warnings": warnings}
    if repeat > 1:
        out["repeats"] = {"connector": [_brief(r) for r in conns], "baseline": [_brief(r) for r in bases]}
    return out


def flattening_cost(url: str, spec: dict, records_per_stream: int = 20000) -> dict:
    """Microseconds per record of the custom-field flattening alone, on the emulator's own pages.

    The connector's per-record path mixes our flattening with the CDK's work; this isolates ours: one page of raw
    records and the entity's field definitions, flattened again and again (fresh copies) in this process.
    """
    def get(path):
        request = urllib.request.Request(f"{url}/api/v2/{path}", headers={"x-api-token": TOKEN})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())["data"]
    cost = {}
    for stream, s in spec.items():
        if not s.get("fields_endpoint"):
            continue
        fields = get(f"{s['fields_endpoint']}?limit=500")
        page = get(f"{s['endpoint']}?limit=500")
        field_map = CustomFieldMap.from_fields(fields, builtin_columns=set(page[0]) - {"custom_fields"})
        copies = [json.dumps(r) for r in page]
        rounds = max(1, records_per_stream // len(copies))
        records = [json.loads(c) for _ in range(rounds) for c in copies]
        started = time.perf_counter()
        for record in records:
            field_map.flatten_v2(record)
        seconds = time.perf_counter() - started
        cost[stream] = {"custom_fields": len(field_map.columns), "records": len(records),
                        "us_per_record": round(seconds / len(records) * 1e6, 1)}
    return cost


def scan_phase(emu, workdir, spec, config, catalog_path, state, table_records: dict, delete_fraction, timeout) -> dict:
    """What a deletion scan costs: POST mutate(delete_fraction), then one connector sync from `state` with
    deletion_scan_interval_hours 0. Tokens are per 1,000 records of the scanned tables (the full sync's counts)."""
    summary = emu.hook("POST", "mutate", {"update_fraction": 0.0, "delete_fraction": delete_fraction,
                                          "entities": [s for s in spec if s != "deals"]})
    deleted = {e: len(v["deleted"]) for e, v in summary.items()}
    config_path = workdir / "config-scan.json"
    config_path.write_text(json.dumps({**config, "deletion_scan_interval_hours": 0}))
    run = derive(run_connector(workdir, "deletion-scan", config_path, catalog_path, state, timeout, emu), spec)
    run.pop("_states", None)
    scanned = sum(n for s, n in table_records.items() if s != "deals")  # deals learn deletes from their status
    total = run["total"]
    out = {"deleted": deleted, "deletion_records": run.get("deletions", 0), "scanned_table_records": scanned,
           "requests": total["requests"], "tokens": total["tokens"], "wall_s": total["wall_s"],
           "cpu_s": total["cpu_s"], "peak_rss_mb": total["peak_rss_mb"],
           "tokens_per_1k_scanned": _per_1k(total["tokens"], scanned),
           "requests_per_1k_scanned": _per_1k(total["requests"], scanned),
           "per_stream_tokens": {k: v["tokens"] for k, v in run["per_stream"].items()}}
    warnings = []
    if run["exit_code"] != 0 or run["errors"]:
        warnings.append(f"deletion scan: connector exit {run['exit_code']}, errors: {run['errors'][:3]}")
    if out["deletion_records"] != sum(deleted.values()):
        warnings.append(f"deletion scan: {out['deletion_records']} deletion records for {sum(deleted.values())} deletes")
    out["warnings"] = warnings
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=50000, help="emulator scale (= number of deals)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--streams", nargs="+", default=CORE_STREAMS, help="API v2 list streams of the manifest")
    ap.add_argument("--burst-limit", type=int, default=None, help="emulator burst limit (requests per 2 s)")
    ap.add_argument("--workers", type=int, default=None, help="config num_workers (default: the connector's)")
    ap.add_argument("--update-fraction", type=float, default=0.01, help="share of records mutated before incremental")
    ap.add_argument("--timeout", type=float, default=900, help="kill a run after this many seconds")
    ap.add_argument("--out", type=Path, default=None,
                    help="result JSON (default benchmarks/results/<date>-<host>-s<scale>[-burst<N>].json)")
    ap.add_argument("--no-incremental", action="store_true")
    ap.add_argument("--scan-delete-fraction", type=float, default=0.001,
                    help="after the incremental sync: delete this share of records, then measure a deletion scan")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run connector and warm baseline N times per phase; report the median-wall run")
    args = ap.parse_args(argv)

    if not CONNECTOR.exists():
        raise SystemExit(f"{CONNECTOR} not found: install the package into this interpreter's environment")
    meta = machine_info()
    if meta["installed_package_matches_tree"] is False:
        print("!! the installed source-pipedrive differs from the working tree; reinstall with\n"
              f"   {Path(sys.executable).parent / 'pip'} install -q --no-deps --force-reinstall {REPO}",
              file=sys.stderr)
    started = dt.datetime.now(dt.timezone.utc)
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", meta["hostname"])[:40] or "host"
    out = args.out or HERE / "results" / (f"{started:%Y-%m-%d}-{host}-{meta['cpu_count']}cpu-s{args.scale}"
                                          + (f"-burst{args.burst_limit}" if args.burst_limit else "") + ".json")
    result = {"benchmark": "source-pipedrive read vs bare baseline", "started_at": started.isoformat(timespec="seconds"),
              "machine": meta,
              "params": {"scale": args.scale, "seed": args.seed, "streams": args.streams,
                         "burst_limit": args.burst_limit, "workers": args.workers,
                         "update_fraction": args.update_fraction, "repeat": args.repeat, "command": [Path(sys.argv[0]).name, *sys.argv[1:]]}}

    spec = request_spec(args.streams)
    spec = {s: spec[s] for s in args.streams}
    result["params"]["request_spec"] = spec
    with tempfile.TemporaryDirectory(prefix="pipedrive-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "spec.json").write_text(json.dumps(spec))
        emu = EmulatorProcess(args.scale, args.seed, args.burst_limit, workdir)
        try:
            result["emulator"] = {"startup_s": round(emu.startup_s, 2), "url": emu.url}
            print(f"emulator scale {args.scale} up in {emu.startup_s:.1f} s at {emu.url}", flush=True)
            config = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emu.url}
            if args.workers:
                config["num_workers"] = args.workers
            config_path = workdir / "config.json"
            config_path.write_text(json.dumps(config))
            disc = subprocess.run([str(CONNECTOR), "discover", "--config", str(config_path)], cwd=workdir,
                                  capture_output=True, timeout=300)
            catalog_msg = next((orjson.loads(l) for l in disc.stdout.splitlines()
                                if l.startswith(b'{"type":"CATALOG"')), None)
            if catalog_msg is None:
                raise SystemExit(f"discover failed:\n{disc.stdout[-2000:]!r}\n{disc.stderr[-2000:]!r}")
            catalog = configured_catalog(catalog_msg, streams=args.streams)
            missing = set(args.streams) - {s["stream"]["name"] for s in catalog["streams"]}
            if missing:
                raise SystemExit(f"streams not in the catalog: {sorted(missing)}")
            catalog_path = workdir / "catalog.json"
            catalog_path.write_text(json.dumps(catalog))

            full = phase(emu, workdir, "full", spec, config_path, catalog_path, None, {}, args.timeout,
                         args.burst_limit, args.repeat)
            states = full["connector"].pop("_states")
            full["connector"]["final_state"] = {k: v["stream"]["stream_state"] for k, v in states.items()}
            result["full"] = full
            print_phase(f"full sync, scale {args.scale}", full, args.streams)
            result["flattening"] = flattening_cost(emu.url, spec)
            print("custom-field flattening alone: " + ", ".join(
                f"{s} {c['us_per_record']} µs/record ({c['custom_fields']} fields)" for s, c in result["flattening"].items()))

            if not args.no_incremental:
                t0 = time.perf_counter()
                summary = emu.hook("POST", "mutate", {"update_fraction": args.update_fraction})
                result["mutation"] = {"update_fraction": args.update_fraction,
                                      "seconds": round(time.perf_counter() - t0, 2),
                                      "updated": {e: len(v["updated"]) for e, v in summary.items()}}
                since = {s: st["stream"]["stream_state"].get("update_time") for s, st in states.items()
                         if st["stream"]["stream_state"].get("update_time")}
                inc = phase(emu, workdir, "incremental", spec, config_path, catalog_path,
                            list(states.values()), since, args.timeout, args.burst_limit, args.repeat)
                inc_states = inc["connector"].pop("_states")
                inc["updated_since"] = since
                result["incremental"] = inc
                print_phase(f"incremental sync after mutate(update_fraction={args.update_fraction})", inc,
                            args.streams)
                table = {s: v["records"] for s, v in full["connector"]["per_stream"].items()}
                scan = scan_phase(emu, workdir, spec, config, catalog_path, list(inc_states.values()), table,
                                  args.scan_delete_fraction, args.timeout)
                result["deletion_scan"] = scan
                print(f"\n== deletion scan after deleting {scan['deleted']} ==\n"
                      f"{scan['deletion_records']} deletion records; {scan['requests']} requests, {scan['tokens']} "
                      f"tokens = {scan['tokens_per_1k_scanned']} tokens per 1,000 scanned records "
                      f"({scan['scanned_table_records']:,}); wall {scan['wall_s']} s, CPU {scan['cpu_s']} s, "
                      f"peak RSS {scan['peak_rss_mb']} MB", flush=True)
            result["emulator"]["rss_mb_end"] = round(emu.rss_mb(), 1)
        finally:
            emu.stop()

    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    end_hash = _digest(installed_manifest())[:16]
    if end_hash != meta["installed_manifest_sha256"]:
        warning = (f"the installed package changed during the run (manifest {meta['installed_manifest_sha256']} -> "
                   f"{end_hash}): the runs may have measured different code")
        result.setdefault("warnings", []).append(warning)
        print(f"!! {warning}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"\nresults: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    bad = [w for p in ("full", "incremental", "deletion_scan") for w in result.get(p, {}).get("warnings", [])] + \
        result.get("warnings", [])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
