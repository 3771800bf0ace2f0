"""Runs the installed `source-pipedrive` command as a subprocess, as Airbyte and `docker run` do."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

EXECUTABLE = Path(sys.executable).parent / "source-pipedrive"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    messages: List[Dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: Optional[str] = None) -> List[Dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if stream in (None, m["record"]["stream"])]

    def errors(self) -> List[str]:
        return [m["trace"]["error"]["message"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def final_states(self) -> List[Dict[str, Any]]:
        """The last state message of each stream, ready to pass to the next sync."""
        last: Dict[str, Dict[str, Any]] = {}
        for message in self.of_type("STATE"):
            last[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return list(last.values())


def run(tmp_path: Path, command: str, config: Optional[Mapping] = None, catalog: Optional[Mapping] = None,
        state: Optional[List] = None, timeout: int = 300) -> Run:
    args = [str(EXECUTABLE), command]
    for flag, content in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if content is not None:
            path = tmp_path / f"{flag.strip('-')}.json"
            path.write_text(json.dumps(content))
            args += [flag, str(path)]
    completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    messages = []
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            messages.append(json.loads(line))
    return Run(completed.returncode, completed.stdout, completed.stderr, messages)


def token_config(emulator: Any, token: str) -> Dict[str, Any]:
    """A config that reads `emulator` with an API token."""
    return {"credentials": {"auth_type": "api_token", "api_token": token}, "api_domain": emulator.base_url}


def discovered_catalog(folder: Path, config: Mapping) -> Dict[str, Any]:
    """Every stream `discover` lists, configured as configured_catalog() does."""
    discovered = run(folder, "discover", config)
    assert discovered.returncode == 0, discovered.stdout[-2000:]
    return configured_catalog(discovered.of_type("CATALOG")[0])


def configured_catalog(catalog_message: Mapping, streams=None, incremental: bool = True) -> Dict[str, Any]:
    """Every discovered stream (or the named ones), incremental where the stream supports it."""
    configured = []
    for stream in catalog_message["catalog"]["streams"]:
        if streams is not None and stream["name"] not in streams:
            continue
        mode = "incremental" if incremental and "incremental" in stream["supported_sync_modes"] else "full_refresh"
        configured.append({"stream": stream, "sync_mode": mode, "destination_sync_mode": "append"})
    return {"streams": configured}


def utc(value: Any) -> Any:
    """A v1 time ("2024-01-02 03:04:05", UTC) as the connector emits it (RFC 3339); anything else unchanged."""
    if isinstance(value, str) and len(value) == 19 and value[10] == " ":
        return value.replace(" ", "T") + "Z"
    return value


def as_if_hours_later(states: List[Dict[str, Any]], hours: float) -> List[Dict[str, Any]]:
    """States as the next run would find them `hours` later: the budget memory each carries (the connector's notes,
    source_pipedrive/ledger.py) moved back by that much, so a test need not wait for Pipedrive's midnight."""
    import copy
    from datetime import datetime, timedelta, timezone

    moved = copy.deepcopy(states)
    for state in moved:
        budget = (state["stream"]["stream_state"].get("pipedrive_sync") or {}).get("budget") or {}
        for key in ("seen_at", "stopped_at", "reset_after", "reset_by"):
            if budget.get(key):
                then = datetime.strptime(budget[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
                budget[key] = (then - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moved
