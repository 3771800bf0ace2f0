r"""API cost of a first sync of every stream, with and without skipping children the parent's count says are empty.

    .venv/bin/python benchmarks/first_sync_cost.py [--scale 300] [--seed 42] \
        [--out benchmarks/results/<date>-first-sync-cost-s<scale>.json]

Runs the installed `source-pipedrive` command twice against the emulator (the demo's data by default): once as installed,
once from a copy of the package whose manifest has every `skip_when_zero` removed, so that every parent is visited.
Each run discovers, then reads every stream from no state with no daily budget. Prints requests and rate-limit
tokens of each run (from the emulator's counters) and exits 1 unless both delivered the same primary keys in every
stream: skipping must save requests, never records.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from integration_tests.connector import configured_catalog, run  # noqa: E402
from integration_tests.emulator import Emulator  # noqa: E402

SKIP = re.compile(r", skip_when_zero: \w+")


def package_visiting_every_parent(into: Path) -> Path:
    """A copy of the package, its manifest inside as in the wheel, that never skips a parent; first on PYTHONPATH."""
    shutil.copytree(REPO / "source_pipedrive", into / "source_pipedrive", ignore=shutil.ignore_patterns("__pycache__"))
    text, skips = SKIP.subn("", (REPO / "manifest.yaml").read_text())
    if not skips:
        raise SystemExit("the manifest has no skip_when_zero: nothing to compare")
    (into / "source_pipedrive" / "manifest.yaml").write_text(text)
    return into


def first_sync(emulator: Emulator, workdir: Path) -> dict:
    config = {"credentials": {"auth_type": "api_token", "api_token": "t"}, "api_domain": emulator.base_url}
    catalog = configured_catalog(run(workdir, "discover", config).of_type("CATALOG")[0])
    keys = {entry["stream"]["name"]: [path[0] for path in entry["stream"]["source_defined_primary_key"]]
            for entry in catalog["streams"]}
    emulator.reset_stats()
    result = run(workdir, "read", config, catalog, timeout=3000)
    if result.returncode:
        raise SystemExit(f"read failed ({result.returncode}): {result.stderr[-2000:]}")
    stats = emulator.stats()
    records = collections.defaultdict(set)
    for message in result.of_type("RECORD"):
        record = message["record"]
        records[record["stream"]].add(json.dumps([record["data"].get(key) for key in keys[record["stream"]]]))
    return {
        "requests": sum(stats["requests"].values()),
        "tokens": stats["tokens_total"],
        "records": sum(len(ids) for ids in records.values()),
        "cost_lines": [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["message"].startswith("API cost")],
        "keys": {stream: sorted(ids) for stream, ids in records.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("visiting every parent", "skipping empty children"):
            workdir = Path(tmp) / name.split()[0]
            workdir.mkdir()
            env = dict(os.environ)
            if name == "visiting every parent":
                os.environ["PYTHONPATH"] = str(package_visiting_every_parent(workdir))
            try:
                with Emulator(seed=args.seed, scale=args.scale, api_tokens=("t",)) as emulator:
                    runs[name] = first_sync(emulator, workdir)
            finally:
                os.environ.clear()
                os.environ.update(env)
    before, after = runs["visiting every parent"], runs["skipping empty children"]
    for name, result in runs.items():
        print(f"{name:>22}: {result['records']:,} records, {result['requests']:,} requests, {result['tokens']:,} tokens")
    saved = 1 - after["tokens"] / before["tokens"]
    print(f"{'saved':>22}: {before['requests'] - after['requests']:,} requests, "
          f"{before['tokens'] - after['tokens']:,} tokens ({saved:.1%})")
    same = before["keys"] == after["keys"]
    print(f"{'records':>22}: {'identical primary keys in every stream' if same else 'DIFFER'}")
    if args.out:
        for result in runs.values():
            result["records_per_stream"] = {stream: len(ids) for stream, ids in sorted(result.pop("keys").items())}
        report = {"scale": args.scale, "seed": args.seed, "same_primary_keys": same, "runs": runs}
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
