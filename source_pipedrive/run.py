import gc
import sys
import traceback
from datetime import datetime, timezone
from typing import List

import orjson
from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    ConnectorSpecification,
    FailureType,
    TraceType,
    Type,
)
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pipedrive.config_errors import config_error
from source_pipedrive.source import SourcePipedrive


class PipedriveEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with config errors that name the field (see config_errors.py)."""

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config) -> None:  # type: ignore[no-untyped-def]
        connector_config, _ = split_config(config)
        message = config_error(connector_config, source_spec.connectionSpecification)
        if message:
            raise AirbyteTracedException(message=message, internal_message=message,
                                         failure_type=FailureType.config_error)
        AirbyteEntrypoint.validate_connection(source_spec, config)


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


# A page decodes into ~20,000 dicts and lists that live until their records are written, and Python's cyclic
# collector would walk them every 700 allocations: about an eighth of a read's CPU. Records hold no cycles, so
# collecting young objects every 100,000 allocations frees the same memory later, at a fraction of the work.
GC_YOUNG_THRESHOLD = 100_000


def run() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
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
    entrypoint = PipedriveEntrypoint(source)
    with PRINT_BUFFER:
        for message in entrypoint.run(entrypoint.parse_args(args)):
            # One write per message: concurrent threads must not interleave a message and its newline.
            print(f"{message}\n", end="")


if __name__ == "__main__":
    run()
