r"""What a schedule costs from a company's daily API budget: an unchanged sync, a sync after 1% of the records
changed, and what a day adds (reference data and deletion scans), on emulated accounts of 1 to 50 users.

    .venv/bin/python benchmarks/schedule_cost.py [--users 1 5 10 50] [--scale 200] [--seed 42] \
        [--baseline 9f5e174] [--repeat 3] [--out benchmarks/results/<date>-schedule-cost.json]

For each account the installed `source-pipedrive` discovers, reads every stream (incremental where offered) from no
state, then reads again from that state:
- `unchanged`: nothing changed in the account (tokens, requests, records, wall seconds: median of --repeat runs);
- `daily extras`: nothing changed, with reference_refresh_hours=0 and deletion_scan_interval_hours=0: what the one
  sync a day that refreshes reference data and scans for deletes costs;
- `1% changed`: after the emulator changed 1% of deals, persons, organizations, activities, products, leads, notes.
`spec`'s wall time is measured the same way. With --baseline REF the same runs are made with the package and manifest
of that git revision (first on PYTHONPATH), so before and after are measured on the same machine and hour.
Tokens are the emulator's counters (each request's x-token-cost from Pipedrive's OpenAPI files).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from integration_tests.connector import EXECUTABLE, configured_catalog, run  # noqa: E402
from integration_tests.emulator import Emulator  # noqa: E402

PLANS = {"Lite": 1, "Growth": 2, "Premium": 5, "Ultimate": 7}  # budget = 30,000 x plan multiplier x seats
CORE = ["deals", "persons", "organizations", "activities", "products", "leads", "notes"]


def package_at(ref: str, into: Path) -> Path:
    """source_pipedrive/ and manifest.yaml as they were at `ref`, laid out as in the wheel."""
    archive = subprocess.run(["git", "archive", ref, "source_pipedrive", "manifest.yaml"], cwd=REPO,
                             capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(into)
    (into / "manifest.yaml").rename(into / "source_pipedrive" / "manifest.yaml")
    return into


def timed(workdir: Path, *args, **kwargs):
    started = time.monotonic()
    result = run(workdir, *args, **kwargs)
    return result, time.monotonic() - started


def spec_seconds(workdir: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        subprocess.run([str(EXECUTABLE), "spec"], capture_output=True, cwd=workdir, check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def measure(emulator: Emulator, workdir: Path, repeat: int) -> dict:
    config = {"credentials": {"auth_type": "api_token", "api_token": "t"}, "api_domain": emulator.base_url}
    catalog = configured_catalog(run(workdir, "discover", config).of_type("CATALOG")[0])
    first, _ = timed(workdir, "read", config, catalog, timeout=3000)
    if first.returncode:
        raise SystemExit(f"first sync failed: {first.errors()[:2]}")
    state = first.final_states()
    out = {"spec seconds": spec_seconds(workdir, repeat)}
    for name, extra, mutate in (("unchanged", {}, False),
                                ("daily extras", {"reference_refresh_hours": 0, "deletion_scan_interval_hours": 0}, False),
                                ("1% changed", {}, True)):
        samples = []
        for _ in range(repeat if not mutate else 1):
            changed = emulator.mutate(update_fraction=0.01, entities=CORE) if mutate else {}
            emulator.reset_stats()
            result, seconds = timed(workdir, "read", {**config, **extra}, catalog, state=state)
            if result.returncode:
                raise SystemExit(f"{name} sync failed: {result.errors()[:2]}")
            stats = emulator.stats()
            samples.append({"tokens": stats["tokens_total"], "requests": sum(stats["requests"].values()),
                            "records": len(result.of_type("RECORD")), "seconds": round(seconds, 2),
                            "changed records": sum(len(v["updated"]) for v in changed.values()),
                            "per stream": per_stream(result),
                            "cost lines": [m["log"]["message"] for m in result.of_type("LOG")
                                           if m["log"]["message"].startswith(("API cost", "Not read", "Not refreshed"))]})
        samples.sort(key=lambda s: s["seconds"])
        out[name] = {**samples[len(samples) // 2], "seconds all": [s["seconds"] for s in samples]}
    return out


def per_stream(result) -> dict:
    """{stream: tokens} from the end-of-read lines "API cost of STREAM: N requests, T tokens"."""
    out = {}
    for message in result.of_type("LOG"):
        text = message["log"]["message"]
        if text.startswith("API cost of ") and not text.startswith("API cost of this sync"):
            name, rest = text[len("API cost of "):].split(": ", 1)
            out[name] = int(rest.split(", ")[1].split(" ")[0].replace(",", ""))
    return out


def markdown(report: dict) -> str:
    """The tables of docs/pipedrive.md "Cost of a schedule", from a report of the current code."""
    lines = ["| account | unchanged sync | the day's reference refresh and deletion scans | 1% changed | hourly, a day | every 15 minutes, a day |",
             "|---|---|---|---|---|---|"]
    for account, versions in report["accounts"].items():
        r = versions["current"]
        day = r["a day of syncs"]
        lines.append(f"| {account} | {r['unchanged']['tokens']:,} | {r['daily extras']['tokens']:,} | "
                     f"{r['1% changed']['tokens']:,} ({r['1% changed']['changed records']} records) | "
                     f"{day['hourly']['tokens a day']:,} | {day['every 15 minutes']['tokens a day']:,} |")
    lines += ["", "| seats | schedule | " + " | ".join(PLANS) + " |", "|---|---|" + "---|" * len(PLANS)]
    for account, versions in report["accounts"].items():
        day = versions["current"]["a day of syncs"]
        for schedule, row in day.items():
            lines.append(f"| {account.split()[0]} | {schedule} | " + " | ".join(row[p] for p in PLANS) + " |")
    first = next(iter(report["accounts"].values()))["current"]
    names = sorted(set(first["unchanged"]["per stream"]) | set(first["daily extras"]["per stream"])
                   | set(first["1% changed"]["per stream"]))
    lines += ["", "| stream | unchanged sync | once a day (refresh, deletion scan) | 1% changed |", "|---|---|---|---|"]
    for name in names:
        lines.append(f"| `{name}` | " + " | ".join(str(first[k]["per stream"].get(name, 0))
                                                 for k in ("unchanged", "daily extras", "1% changed")) + " |")
    return "\n".join(lines)


def day_costs(result: dict, users: int) -> dict:
    unchanged, extras = result["unchanged"]["tokens"], result["daily extras"]["tokens"]
    rows = {}
    for schedule, syncs in (("hourly", 24), ("every 15 minutes", 96)):
        tokens = (syncs - 1) * unchanged + extras
        rows[schedule] = {"tokens a day": tokens,
                          **{plan: f"{100 * tokens / (30_000 * multiplier * users):.1f}%" for plan, multiplier in PLANS.items()}}
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 10, 50])
    parser.add_argument("--scale", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to measure the same way, for comparison")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {"scale": args.scale, "seed": args.seed, "measured": time.strftime("%Y-%m-%d %H:%M"), "accounts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"current": None}
        if args.baseline:
            versions[f"baseline {args.baseline}"] = package_at(args.baseline, Path(tmp) / "baseline")
        for version, path in versions.items():
            saved = os.environ.get("PYTHONPATH")
            if path is not None:
                os.environ["PYTHONPATH"] = str(path)
            try:
                for users in args.users:
                    workdir = Path(tmp) / f"{version.split()[0]}-{users}"
                    workdir.mkdir()
                    with Emulator(seed=args.seed, scale=args.scale, users=users, api_tokens=("t",)) as emulator:
                        result = measure(emulator, workdir, args.repeat)
                    result["a day of syncs"] = day_costs(result, users)
                    report["accounts"].setdefault(f"{users} users", {})[version] = result
                    print(f"{version}, {users} users: unchanged {result['unchanged']['tokens']:,} tokens "
                          f"({result['unchanged']['seconds']} s; spec {result['spec seconds']:.2f} s), daily extras "
                          f"{result['daily extras']['tokens']:,}, 1% changed {result['1% changed']['tokens']:,}; "
                          f"hourly {result['a day of syncs']['hourly']}, 15-minute {result['a day of syncs']['every 15 minutes']}",
                          flush=True)
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
