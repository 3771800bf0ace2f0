import sys
import traceback
from datetime import datetime, timezone
from typing import List

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    TraceType,
    Type,
)

from source_pipedrive.source import SourcePipedrive


def _source(args: List[str]) -> SourcePipedrive:
    # The concurrent CDK needs catalog, config and state when the source is built, not when read() is called;
    # config_path lets a legacy config be migrated in place (and announced with a CONTROL message).
    config_path = AirbyteEntrypoint.extract_config(args)
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    return SourcePipedrive(
        catalog=SourcePipedrive.read_catalog(catalog_path) if catalog_path else None,
        config=SourcePipedrive.read_config(config_path) if config_path else None,
        state=SourcePipedrive.read_state(state_path) if state_path else None,
        config_path=config_path,
    )


def run() -> None:
    args = sys.argv[1:]
    try:
        source = _source(args)
    except Exception as error:  # noqa: BLE001 - anything here must reach the platform as a trace, not a traceback
        trace = AirbyteMessage(
            type=Type.TRACE,
            trace=AirbyteTraceMessage(
                type=TraceType.ERROR,
                emitted_at=int(datetime.now(timezone.utc).timestamp() * 1000),
                error=AirbyteErrorTraceMessage(
                    message=f"source-pipedrive could not start: {error}",
                    internal_message=str(error),
                    stack_trace=traceback.format_exc(),
                ),
            ),
        )
        print(orjson.dumps(AirbyteMessageSerializer.dump(trace)).decode())
        sys.exit(1)
    launch(source, args)
