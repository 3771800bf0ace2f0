"""The one-command demo: sync Pipedrive into a local DuckDB file through PyAirbyte and print what arrived.

Without credentials it starts the bundled Pipedrive API emulator (integration_tests/emulator) and syncs its seeded
company. With PIPEDRIVE_API_TOKEN (and optionally PIPEDRIVE_API_DOMAIN) in the environment, or --config FILE, it
syncs that real account instead. Run it through `scripts/demo`, which installs everything first.
"""

import argparse
import json
import os
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

# PyAirbyte looks up Airbyte's online registry unless told it is offline; the demo needs no network.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
# PyAirbyte's cloud-warehouse dependencies warn about Python end-of-life dates on import; not our reader's concern.
warnings.filterwarnings("ignore", category=FutureWarning)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import airbyte as ab  # noqa: E402
from sqlalchemy import text  # noqa: E402

PIPELINE_REPORT = """
select p.name as pipeline, s.name as stage, s.order_nr, d.currency, count(*) as open_deals, sum(d.value) as open_value
from deals d join stages s on s.id = d.stage_id join pipelines p on p.id = s.pipeline_id
where d.status = 'open' and not coalesce(d.is_deleted, false)
group by 1, 2, 3, 4 order by 1, 3, 4
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="a source-pipedrive config file (a real account)")
    parser.add_argument("--scale", type=int, default=300, help="emulator size: number of deals (default 300)")
    parser.add_argument("--db", type=Path, default=ROOT / ".demo" / "pipedrive.duckdb", help="DuckDB file to write")
    parser.add_argument("--streams", nargs="*", help="streams to sync (default: all)")
    return parser.parse_args()


def real_account_config(args: argparse.Namespace):
    if args.config:
        return json.loads(args.config.read_text())
    token = os.environ.get("PIPEDRIVE_API_TOKEN")
    if not token:
        return None
    config = {"credentials": {"auth_type": "api_token", "api_token": token}}
    if os.environ.get("PIPEDRIVE_API_DOMAIN"):
        config["api_domain"] = os.environ["PIPEDRIVE_API_DOMAIN"]
    return config


def main() -> None:
    args = parse_args()
    with ExitStack() as stack:
        config = real_account_config(args)
        if config is None:
            from integration_tests.emulator import Emulator

            emulator = stack.enter_context(Emulator(seed=42, scale=args.scale, api_tokens=("demo-token",)))
            print(f"==> Pipedrive API emulator at {emulator.base_url} ({args.scale} deals; set PIPEDRIVE_API_TOKEN "
                  "to sync a real account)")
            config = {"credentials": {"auth_type": "api_token", "api_token": "demo-token"},
                      "api_domain": emulator.base_url}
        else:
            print("==> syncing the Pipedrive account of the given credentials")

        executable = Path(sys.executable).parent / "source-pipedrive"
        source = ab.get_source("source-pipedrive", config=config, local_executable=str(executable))
        source.check()
        if args.streams:
            source.select_streams(args.streams)
        else:
            source.select_all_streams()
        args.db.parent.mkdir(parents=True, exist_ok=True)
        cache = ab.DuckDBCache(db_path=str(args.db))
        started = time.monotonic()
        result = source.read(cache=cache, force_full_refresh=True)
        elapsed = time.monotonic() - started

        print(f"\n==> synced into {args.db} in {elapsed:.1f} s")
        print(f"{'stream':<24}{'records':>10}")
        for name in sorted(result.streams):
            print(f"{name:<24}{len(result[name]):>10}")

        if {"deals", "stages", "pipelines"} <= set(result.streams):
            print("\n==> open deal value per stage")
            with cache.get_sql_engine().connect() as connection:
                rows = connection.execute(text(PIPELINE_REPORT)).fetchall()
            # Deals keep their own currency, so values are summed per currency, never across.
            by_stage = {}
            for pipeline, stage, order, currency, deals, value in rows:
                entry = by_stage.setdefault((pipeline, order, stage), [0, []])
                entry[0] += deals
                entry[1].append(f"{currency} {value or 0:,.0f}")
            print(f"{'pipeline':<22}{'stage':<22}{'deals':>6}  open value by currency")
            for (pipeline, _, stage), (deals, values) in by_stage.items():
                print(f"{pipeline[:21]:<22}{stage[:21]:<22}{deals:>6}  {', '.join(values)}")


if __name__ == "__main__":
    main()
