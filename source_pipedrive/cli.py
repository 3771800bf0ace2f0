import gc
import logging
import os
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import List, Optional

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    ConnectorSpecification,
    FailureType,
    Level,
    TraceType,
    Type,
)
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pipedrive import adapters
from source_pipedrive.config_errors import config_error
from source_pipedrive.outcome import refusing_full_refresh
from source_pipedrive.source import SourcePipedrive
from source_pipedrive.sync import BudgetSpent, Sync

# A page decodes into ~20,000 dicts and lists that live until their records are written, and Python's cyclic
# collector would walk them every 700 allocations: about an eighth of a read's CPU. Records hold no cycles, so
# collecting young objects every 100,000 allocations frees the same memory later, at a fraction of the work.
GC_YOUNG_THRESHOLD = 100_000
# When a read ends, the CDK's pool threads stay idle (a stopped read's may still be inside a request, or blocked
# handing records to a writer that is gone), and nothing they do any more reaches the output: the process waits
# for them no longer than this, after everything was written.
WORKERS_GRACE_SECONDS = 0.25


class PipedriveEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with config errors that name the field (see config_errors.py)."""

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config) -> None:  # type: ignore[no-untyped-def]
        connector_config, _ = split_config(config)
        message = config_error(connector_config, source_spec.connectionSpecification)
        if message:
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
        AirbyteEntrypoint.validate_connection(source_spec, config)


class _NotBudgetNoise(logging.Filter):
    """Drops the per-stream error logs of requests the budget stop refused: the run ends with one trace instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], BudgetSpent))


def _source(args: List[str]) -> SourcePipedrive:
    # The concurrent CDK needs catalog, config and state when the source is built, not when read() is called;
    # config_path lets a legacy config be migrated in place (and announced with a CONTROL message).
    config_path = AirbyteEntrypoint.extract_config(args)
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    catalog = SourcePipedrive.read_catalog(catalog_path) if catalog_path else None
    config = SourcePipedrive.read_config(config_path) if config_path else None
    state = SourcePipedrive.read_state(state_path) if state_path else None
    build_in_read = bool(args) and args[0] == "read"
    try:
        return SourcePipedrive(catalog=catalog, config=config, state=state, config_path=config_path,
                               build_in_read=build_in_read)
    except OSError as error:  # a legacy config mounted read-only: migrate in memory, announce it, go on
        print(_message(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.WARN, message=(
            f"Could not rewrite {config_path} in today's shape ({error.strerror}); the CONTROL message carries it "
            "to the platform instead.")))), end="")
        return SourcePipedrive(catalog=catalog, config=config, state=state, config_path=None, build_in_read=build_in_read)


def _message(message: AirbyteMessage) -> str:
    return orjson.dumps(AirbyteMessageSerializer.dump(message)).decode() + "\n"


def _trace(message: str, failure_type: FailureType, stack_trace: Optional[str] = None) -> str:
    return _message(AirbyteMessage(type=Type.TRACE, trace=AirbyteTraceMessage(
        type=TraceType.ERROR, emitted_at=int(datetime.now(timezone.utc).timestamp() * 1000),
        error=AirbyteErrorTraceMessage(message=message, internal_message=message, stack_trace=stack_trace,
                                       failure_type=failure_type))))


def _is_budget_trace(line: str) -> bool:
    return line.startswith('{"type":"TRACE"') and '"pipedrive-daily-budget"' in line


def run() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    args = sys.argv[1:]
    try:
        source = _source(args)
    except Exception as error:  # noqa: BLE001 - anything here must reach the platform as a trace, not a traceback
        print(_trace(f"source-pipedrive could not start: {error}", FailureType.system_error, traceback.format_exc()), end="")
        sys.exit(1)
    entrypoint = PipedriveEntrypoint(source)
    # The CDK's handler sits on the root logger; its stream loggers propagate to it.
    for handler in {*logging.getLogger().handlers, *logging.getLogger("airbyte").handlers}:
        handler.addFilter(_NotBudgetNoise())
    status = 1
    try:
        with adapters.message_output():
            try:
                status = _run(entrypoint, entrypoint.parse_args(args))
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # noqa: BLE001 - the CDK's hook turns it into a trace, then the process must end
                status = 1
                sys.excepthook(*sys.exc_info())
    except BaseException:  # noqa: BLE001 - nowhere to write any more (the reader closed stdout): just end
        status = 1
    finally:
        _leave(status)


def _run(entrypoint: PipedriveEntrypoint, parsed) -> int:  # type: ignore[no-untyped-def]
    sync, other_errors = Sync.current(), False
    try:
        for message in entrypoint.run(parsed):
            if not _is_budget_trace(message):
                other_errors = other_errors or _is_error_trace(message)
                # One write per message: concurrent threads must not interleave a message and its newline.
                print(f"{message}\n", end="")
    except Exception:  # noqa: BLE001 - a run the daily budget stopped ends as decided below
        if not sync.stop_reason:
            raise
    finally:
        if parsed.command == "read":
            for line in sync.cost_lines():
                print(_log(Level.INFO, line), end="")
    if not sync.stop_reason:
        return 0
    unfinished = sync.must_finish - sync.completed
    if not other_errors and not unfinished:
        # Exit 0 makes the platform mark every stream complete: safe here, since every stream whose rows that would
        # replace or drop finished, and the others continue from their state. A failed job instead would be retried
        # for nothing until the budget resets, and a first sync of many budget-days would look like a connection
        # failing every day (and get it disabled).
        print(_log(Level.WARN, f"{sync.stop_reason} Ending this sync successfully: {sync.done_for_now()}"), end="")
        return 0
    if unfinished:
        print(_log(Level.WARN, refusing_full_refresh(unfinished)), end="")
    print(_trace(sync.stop_reason, FailureType.transient_error), end="")
    return 1


def _log(level: Level, text: str) -> str:
    return _message(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=text)))


def _is_error_trace(line: str) -> bool:
    return line.startswith('{"type":"TRACE"') and '"type":"ERROR"' in line


def _leave(status: int) -> None:
    """Exits; at once if worker threads outlive the run by more than a moment. A worker blocked handing records to a
    reader that left (budget stop, an error, a closed stdout) would otherwise keep the interpreter alive forever."""
    deadline = time.monotonic() + WORKERS_GRACE_SECONDS
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in others):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    run()
