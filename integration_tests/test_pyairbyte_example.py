"""examples/pyairbyte_duckdb.py run as a user runs it: a subprocess, PyAirbyte, the installed connector, DuckDB.

The example is the first code a PyAirbyte user copies, so it must keep working as the connector changes. Each run
gets its own cache root and working directory, so nothing lands in the repository. The deals it reports must be
exactly the deals /api/v2/deals lists, by id, in the DataFrame and in the DuckDB file: every deal not archived,
including the deleted ones the connector asks for (status=...,deleted) and marks with _ab_cdc_deleted_at.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

from integration_tests.emulator import Emulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pyairbyte_duckdb.py"
TOKEN = "example-test-token-41d7"


def listed(records: dict) -> list:
    """The ids a Pipedrive list endpoint returns without a status filter: never a deleted record."""
    return sorted(r["id"] for r in records.values() if not r.get("is_deleted"))


def listed_deals(deals: dict) -> list:
    """The ids /api/v2/deals returns for status=open,won,lost,deleted: archived deals are under /deals/archived."""
    return sorted(r["id"] for r in deals.values() if not r["is_archived"])


def deleted_deals(deals: dict) -> list:
    return sorted(r["id"] for r in deals.values() if not r["is_archived"] and r["is_deleted"])


def run_example(tmp_path: Path, *args: str, account: dict = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDRIVE_")}  # never a developer's real account
    env.update({"AIRBYTE_CACHE_ROOT": str(tmp_path / "cache"), "AIRBYTE_LOGGING_ROOT": str(tmp_path / "logs"),
                "AIRBYTE_OFFLINE_MODE": "1", "DO_NOT_TRACK": "1", **(account or {})})
    completed = subprocess.run([sys.executable, str(EXAMPLE), *args], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    return completed.stdout


def reported(stdout: str, pattern: str) -> tuple:
    match = re.search(pattern, stdout, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{stdout[-3000:]}"
    return tuple(int(group) for group in match.groups())


def ids_in(db_path: Path, table: str, where: str = "true") -> list:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute(f"select id from main.{table} where {where} order by id").fetchall()
    return [row[0] for row in rows]


def test_the_deals_dataframe_holds_every_listed_deal_when_no_credentials_are_given(tmp_path):
    stdout = run_example(tmp_path, "--scale", "120")

    seed, scale = reported(stdout, r"^==> Pipedrive API emulator at \S+, seed (\d+), scale (\d+)")
    truth = Emulator(seed=seed, scale=scale)
    deals, deleted = listed_deals(truth.truth("deals")), deleted_deals(truth.truth("deals"))
    assert scale == 120 and deleted, "the emulator deleted no deal: the deletion count would prove nothing"
    summary = reported(stdout, r"^==> deals DataFrame: (\d+) rows x \d+ columns, (\d+) of them deleted")
    assert summary == (len(deals), len(deleted))
    assert reported(stdout, r"^stages\s+(\d+) records") == (len(listed(truth.truth("stages"))),)
    assert reported(stdout, r"^pipelines\s+(\d+) records") == (len(listed(truth.truth("pipelines"))),)
    default_cache = tmp_path / "cache" / "default_cache" / "default_cache.duckdb"
    assert ids_in(default_cache, "deals") == deals
    assert ids_in(default_cache, "deals", "_ab_cdc_deleted_at is not null") == deleted


def test_the_named_duckdb_file_holds_the_accounts_deals_when_credentials_are_given(tmp_path):
    with Emulator(seed=11, scale=90, api_tokens=(TOKEN,)) as account:
        stdout = run_example(tmp_path, "pipedrive.duckdb",
                             account={"PIPEDRIVE_API_TOKEN": TOKEN, "PIPEDRIVE_API_DOMAIN": account.base_url})
        deals = listed_deals(account.truth("deals"))
        stages = listed(account.truth("stages"))

    assert "Pipedrive API emulator" not in stdout
    assert reported(stdout, r"^==> deals DataFrame: (\d+) rows") == (len(deals),)
    assert ids_in(tmp_path / "pipedrive.duckdb", "deals") == deals
    assert ids_in(tmp_path / "pipedrive.duckdb", "stages") == stages
    assert not (tmp_path / "cache" / "default_cache").exists()
