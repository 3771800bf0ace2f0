"""cProfile of one connector `read`, in-process, every thread merged, against the emulator in its own process.

    .venv/bin/python benchmarks/profile_read.py --scale 20000 [--streams deals] [--timer cpu|wall] [--top 15]

The concurrent CDK reads partitions on worker threads and serialises/prints messages on the main thread, so one
profiler on the main thread would miss most of the work. Here `threading.Thread.run` is wrapped so that every
thread runs under its own cProfile.Profile (Python 3.11: a profiler hooks only the thread that enables it) and the
main thread's profile is merged with all of them through pstats.

--timer cpu (default) charges time.thread_time, i.e. CPU time of the running thread: a thread waiting for the GIL,
a lock, a queue or a socket is not charged, so own times add up to the process's CPU time. --timer wall uses
cProfile's default clock and shows where threads wait as well. Either way cProfile's per-call overhead inflates
functions called very often (a few hundred ns each); compare with benchmarks/run.py for the unprofiled speed.

Writes the top functions by own time (tottime) and by cumulative time, each tagged ours (source_pipedrive),
cdk (airbyte_cdk), third-party (site-packages) or stdlib/builtin, to benchmarks/results/<date>-<host>-profile-
<streams>-s<scale>.json, the raw pstats dump next to it in /tmp, and a short table on stdout.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from run import CONNECTOR, HERE, REPO, TOKEN, EmulatorProcess, machine_info  # benchmarks/run.py

sys.path.insert(0, str(REPO))
from integration_tests.connector import configured_catalog  # noqa: E402


def classify(filename: str) -> str:
    if "/source_pipedrive/" in filename:
        return "ours"
    if "/airbyte_cdk/" in filename:
        return "cdk"
    if "site-packages" in filename:
        return "third-party"
    if filename.startswith("~") or filename == "":
        return "builtin"
    return "stdlib"


def _label(func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    short = filename
    for marker in ("/site-packages/", "/lib/python3", f"{REPO}/"):
        if marker in short:
            short = short.split(marker, 1)[1]
            break
    return f"{short}:{line}({name})"


def _package(filename: str) -> str:
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0]
    if "/source_pipedrive/" in filename:
        return "source_pipedrive"
    return ""


def table(stats: pstats.Stats, key: str, top: int) -> list:
    rows = []
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3], reverse=True)
    for func, (cc, nc, tt, ct, callers) in entries[:top]:
        row = {"function": _label(func), "kind": classify(func[0]), "package": _package(func[0]),
               "calls": nc, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3),
               "per_call_us": round(1e6 * tt / nc, 2) if nc else None}
        if row["kind"] in ("builtin", "stdlib"):  # who pays for it: the caller that spends most time in it
            if callers:
                top_caller = max(callers.items(), key=lambda kv: kv[1][2])[0]
                row["main_caller"] = _label(top_caller)
                row["main_caller_kind"] = classify(top_caller[0])
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--streams", nargs="+", default=["deals"])
    ap.add_argument("--timer", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    meta = machine_info()
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", meta["hostname"])[:40] or "host"
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or HERE / "results" / (f"{started:%Y-%m-%d}-{host}-{meta['cpu_count']}cpu-profile-"
                                          f"{'-'.join(args.streams)}-s{args.scale}-{args.timer}.json")
    make = (lambda: cProfile.Profile(time.thread_time)) if args.timer == "cpu" else cProfile.Profile

    with tempfile.TemporaryDirectory(prefix="pipedrive-profile-") as tmp:
        workdir = Path(tmp)
        emu = EmulatorProcess(args.scale, args.seed, None, workdir)
        try:
            config = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}, "api_domain": emu.url}
            (workdir / "config.json").write_text(json.dumps(config))
            import subprocess
            disc = subprocess.run([str(CONNECTOR), "discover", "--config", str(workdir / "config.json")],
                                  cwd=workdir, capture_output=True, timeout=300, check=True)
            catalog_msg = next(orjson.loads(l) for l in disc.stdout.splitlines() if l.startswith(b'{"type":"CATALOG"'))
            (workdir / "catalog.json").write_text(json.dumps(configured_catalog(catalog_msg, streams=args.streams)))
            # warm the emulator's render cache, so the profile is of the connector, not of a cold server
            warm = subprocess.run([sys.executable, str(HERE / "baseline.py"), "--url", emu.url, "--token", TOKEN,
                                   "--streams", *args.streams], capture_output=True, check=True)
            expected = json.loads(warm.stdout)["records"]

            # every thread gets its own profiler; the main thread's is started below
            profiles: list = []
            lock = threading.Lock()
            original_run = threading.Thread.run

            def profiled_run(self):
                prof = make()
                with lock:
                    profiles.append((self, prof))
                prof.enable()
                try:
                    original_run(self)
                finally:
                    prof.disable()

            threading.Thread.run = profiled_run

            from source_pipedrive.run import run as connector_main

            out_path = workdir / "stdout.jsonl"
            saved_fd, saved_argv = os.dup(1), sys.argv
            sys.stdout.flush()
            fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.close(fd)
            sys.argv = ["source-pipedrive", "read", "--config", str(workdir / "config.json"),
                        "--catalog", str(workdir / "catalog.json")]
            main_prof = make()
            cpu0, t0 = time.process_time(), time.perf_counter()
            main_prof.enable()
            try:
                connector_main()
            except SystemExit as exit_:  # run() ends with sys.exit(status), as the console script must
                if exit_.code not in (0, None):
                    raise
            finally:
                main_prof.disable()
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                sys.stdout.flush()
                os.dup2(saved_fd, 1)
                os.close(saved_fd)
                sys.argv = saved_argv
                threading.Thread.run = original_run
            records = 0
            with open(out_path, "rb") as f:
                for line in f:
                    records += line.startswith(b'{"type":"RECORD"')
        finally:
            emu.stop()

    # A thread still running (e.g. pyrate_limiter's leak thread, `while True: sleep()`) has calls in flight; pstats
    # would close them with the main thread's clock and charge garbage, so such threads are left out and listed.
    stats = pstats.Stats(main_prof)
    merged, excluded = [], []
    for thread, prof in profiles:
        thread.join(timeout=0.5)
        if thread.is_alive():
            excluded.append(thread.name)
            continue
        try:
            stats.add(prof)
            merged.append(thread.name)
        except TypeError:  # a thread that never ran profiled code has no stats
            pass
    dump = Path(tempfile.gettempdir()) / (out.stem + ".pstats")
    stats.dump_stats(dump)
    own = table(stats, "tottime", args.top)
    cum = table(stats, "cumtime", 40)
    by_kind: dict = {}
    by_package: dict = {}
    for func, (cc, nc, tt, ct, callers) in stats.stats.items():
        k = classify(func[0])
        by_kind[k] = by_kind.get(k, 0.0) + tt
        pkg = _package(func[0]) or k
        by_package[pkg] = by_package.get(pkg, 0.0) + tt
    result = {
        "benchmark": "cProfile of source-pipedrive read (in-process, all threads merged)",
        "started_at": started.isoformat(timespec="seconds"), "machine": meta,
        "params": {"scale": args.scale, "seed": args.seed, "streams": args.streams, "timer": args.timer},
        "records": records, "expected_records": expected, "threads_profiled": len(merged) + 1,
        "threads_merged": ["MainThread", *merged], "threads_excluded_still_running": excluded,
        "wall_s_profiled": round(wall, 2), "process_cpu_s_profiled": round(cpu, 2),
        "total_own_time_s": round(stats.total_tt, 2),
        "own_time_by_kind_s": {k: round(v, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        "own_time_by_package_s": {k: round(v, 2) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]},
        "top_own_time": own, "top_cumulative": cum, "pstats_dump": str(dump),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print(f"profiled read of {', '.join(args.streams)} at scale {args.scale}: {records:,} records "
          f"(baseline read {expected:,}), wall {wall:.1f} s, process CPU {cpu:.1f} s under the profiler, "
          f"{len(merged) + 1} threads merged, timer={args.timer}"
          + (f"; still running, left out: {', '.join(excluded)}" if excluded else ""))
    print("own time by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["own_time_by_kind_s"].items()))
    print(f"{'#':>2} {'own s':>7} {'own %':>6} {'calls':>10}  {'kind':<11} function")
    for i, row in enumerate(own, 1):
        share = 100 * row["tottime_s"] / stats.total_tt if stats.total_tt else 0
        caller = f"  <- {row['main_caller']}" if row.get("main_caller") else ""
        print(f"{i:>2} {row['tottime_s']:>7.2f} {share:>6.1f} {row['calls']:>10,}  {row['kind']:<11} "
              f"{row['function']}{caller}")
    print(f"\nresults: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}; pstats: {dump}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
