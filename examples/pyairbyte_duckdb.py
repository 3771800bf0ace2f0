"""Sync Pipedrive deals, stages and pipelines into DuckDB with PyAirbyte, then look at the deals in pandas.

    python examples/pyairbyte_duckdb.py                    # PyAirbyte's default DuckDB cache (.cache/ here)
    python examples/pyairbyte_duckdb.py pipedrive.duckdb   # a DuckDB file of your choice

Without credentials it syncs the bundled Pipedrive API emulator (integration_tests/emulator), offline. With
PIPEDRIVE_API_TOKEN (and optionally PIPEDRIVE_API_DOMAIN=https://<company>.pipedrive.com) in the environment, or
--config FILE, it syncs that account instead. Needs the connector and PyAirbyte: `pip install ".[demo]"`.
Run it again and only the deals changed since are read: the state is kept in the cache.
"""

import argparse
import json
import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

# PyAirbyte looks the connector up in Airbyte's online registry unless told it is offline, even for a local
# executable; this example needs no network.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
STREAMS = ["deals", "stages", "pipelines"]
EMULATOR_SEED = 42
EMULATOR_TOKEN = "example-token"

import airbyte as ab  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", nargs="?", type=Path, help="DuckDB file to write (default: PyAirbyte's default cache)")
    parser.add_argument("--config", type=Path, help="a source-pipedrive config file (a real account)")
    parser.add_argument("--scale", type=int, default=200, help="emulator size in deals (default 200)")
    return parser.parse_args()


def account_config(args: argparse.Namespace):
    """The config of a real account, or None when no credentials were given."""
    if args.config:
        return json.loads(args.config.read_text())
    token = os.environ.get("PIPEDRIVE_API_TOKEN")
    if not token:
        return None
    config = {"credentials": {"auth_type": "api_token", "api_token": token}}
    if os.environ.get("PIPEDRIVE_API_DOMAIN"):
        config["api_domain"] = os.environ["PIPEDRIVE_API_DOMAIN"]
    return config


def connector_executable() -> str:
    """The `source-pipedrive` command installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "source-pipedrive"
    found = str(beside) if beside.is_file() else shutil.which("source-pipedrive")
    if not found:
        sys.exit("source-pipedrive is not installed: run `pip install .` in the repository first")
    return found


def main() -> None:
    args = parse_args()
    with ExitStack() as stack:
        config = account_config(args)
        if config is None:
            sys.path.insert(0, str(ROOT))
            from integration_tests.emulator import Emulator

            emulator = stack.enter_context(Emulator(seed=EMULATOR_SEED, scale=args.scale, api_tokens=(EMULATOR_TOKEN,)))
            print(f"==> Pipedrive API emulator at {emulator.base_url}, seed {EMULATOR_SEED}, scale {args.scale} "
                  "(set PIPEDRIVE_API_TOKEN to sync your account)")
            config = {"credentials": {"auth_type": "api_token", "api_token": EMULATOR_TOKEN},
                      "api_domain": emulator.base_url}

        source = ab.get_source("source-pipedrive", config=config, local_executable=connector_executable())
        source.check()
        source.select_streams(STREAMS)
        cache = ab.DuckDBCache(db_path=args.db) if args.db else ab.get_default_cache()
        result = source.read(cache=cache)

    print(f"==> cache: {cache.db_path}")
    for name in STREAMS:
        print(f"{name:<12}{len(result[name]):>8} records")

    deals = result["deals"].to_pandas()
    # Deals deleted in Pipedrive (kept there 30 days) arrive too, marked with _ab_cdc_deleted_at, so that a
    # deduplicating destination can drop them; a report counts the live ones.
    deleted = deals["_ab_cdc_deleted_at"].notna()
    print(f"==> deals DataFrame: {len(deals)} rows x {len(deals.columns)} columns, {deleted.sum()} of them deleted")
    # The cache keeps only the columns the stream's schema declares; ids and names join the three tables.
    stages = result["stages"].to_pandas().rename(columns={"id": "stage_id", "name": "stage"})
    pipelines = result["pipelines"].to_pandas().rename(columns={"id": "pipeline_id", "name": "pipeline"})
    by_pipeline = (
        deals.loc[~deleted, ["stage_id", "status"]]
        .merge(stages[["stage_id", "stage", "pipeline_id"]], on="stage_id", how="left")
        .merge(pipelines[["pipeline_id", "pipeline"]], on="pipeline_id", how="left")
        .groupby(["pipeline", "status"])
        .size()
        .unstack(fill_value=0)
    )
    print("==> live deals per pipeline and status")
    print(by_pipeline.to_string())


if __name__ == "__main__":
    main()
