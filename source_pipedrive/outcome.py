"""How a read the daily budget stopped ends, and the answer of a read that must not send anything at all.

After a budget stop the Airbyte platform keeps starting the source (retries of a failed attempt, every scheduled
job). When the state says the budget cannot have reset yet (budget.py), such a read has nothing to do but say so:
`answer_without_reading` does that straight from the command line and the state file, before airbyte-cdk is even
imported, so a retry costs a fraction of a second and no request. Everything else runs the full connector (cli.py).
No airbyte-cdk here.

Exit 0 makes the platform mark every configured stream COMPLETE: a full-refresh (overwrite) table is then replaced by
what this run read and a truncating refresh drops older rows, while incremental streams keep their rows and continue
from their state. So a run the budget stopped ends successfully exactly when no stream that `must_finish` is left
unfinished; otherwise it fails with one transient error (docs/BEHAVIOR.md §11).
"""

import json
import sys
import time
from typing import Any, Iterable, List, Mapping, Optional

from source_pipedrive.budget import WAIT, BudgetMemory, utc_now

KEY = "pipedrive_sync"  # the connector's notes in each stream's state (ledger.py)


def must_finish(sync_mode: str, minimum_generation_id: Optional[int]) -> bool:
    """Whether ending successfully with this stream unfinished would lose rows in the destination."""
    return sync_mode == "full_refresh" or (minimum_generation_id or 0) > 0


def newest_budget(blobs: Iterable[Any]) -> BudgetMemory:
    """The newest budget memory of the streams' states (each carries a copy; any may have been deselected since)."""
    newest = BudgetMemory()
    for blob in blobs:
        own = blob.get(KEY) if isinstance(blob, Mapping) else None
        memory = BudgetMemory.from_state(own.get("budget") if isinstance(own, Mapping) else None)
        if memory.written_at and (newest.written_at is None or memory.written_at > newest.written_at):
            newest = memory
    return newest


def done_for_now(stopped: Iterable[str]) -> str:
    names = sorted(stopped)
    return (f"every stream read in full refresh is complete, and the {len(names)} incremental stream(s) the budget "
            f"stopped continue from their saved state at the next sync ({', '.join(names)}).")


def refusing_full_refresh(unfinished: Iterable[str]) -> str:
    return ("Failing this sync rather than ending it successfully: a successful end would replace the destination's "
            f"rows of {', '.join(sorted(unfinished))} (full refresh or a truncating refresh) by the part read before "
            "the budget stopped.")


def nothing_sent(reset_by: Any) -> str:
    when = f" It is expected to have reset by {reset_by:%Y-%m-%d %H:%M} UTC." if reset_by else ""
    return ("Pipedrive's daily API budget was still spent or below the reserve when this sync started: no request "
            f"was sent.{when}")


def answer_without_reading(args: List[str]) -> Optional[int]:
    """The exit status of a `read` that waits for the budget to reset, after writing its messages; None when the
    read has to run (or its files are not what this can judge: the full connector then reports on them)."""
    if not args or args[0] != "read":
        return None
    try:
        paths = {flag: args[args.index(flag) + 1] for flag in ("--catalog", "--state") if flag in args}
        with open(paths["--state"], encoding="utf-8") as file:
            state = json.load(file)
        with open(paths["--catalog"], encoding="utf-8") as file:
            entries = json.load(file)["streams"]
        blobs = [message["stream"]["stream_state"] for message in state if message.get("type") == "STREAM"]
        streams = [(entry["stream"]["name"], entry.get("sync_mode"), entry.get("minimum_generation_id")) for entry in entries]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OSError):
        return None
    memory = newest_budget(blobs)
    plan = memory.plan(utc_now())
    if plan.action != WAIT or not streams:
        return None
    now = int(time.time() * 1000)
    reason = {"type": "RATE_LIMITED", "rate_limited": {"quota_reset": int(plan.reset_by.timestamp() * 1000) if plan.reset_by else None}}
    for name, _, _ in streams:
        for status, reasons in (("STARTED", None), ("RUNNING", [reason])):
            status_message = {"stream_descriptor": {"name": name}, "status": status, **({"reasons": reasons} if reasons else {})}
            _write({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": now, "stream_status": status_message}})
    _log("INFO", nothing_sent(plan.reset_by))
    _log("INFO", "API cost of this sync: 0 requests, 0 tokens")
    unfinished = [name for name, mode, minimum in streams if must_finish(mode, minimum)]
    if unfinished:
        _log("WARN", refusing_full_refresh(unfinished))
        _write({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now, "error": {
            "message": memory.reason, "internal_message": memory.reason, "failure_type": "transient_error"}}})
        return 1
    _log("WARN", f"{memory.reason} Ending this sync successfully: {done_for_now(name for name, _, _ in streams)}")
    return 0


def _log(level: str, message: str) -> None:
    _write({"type": "LOG", "log": {"level": level, "message": message}})


def _write(message: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
