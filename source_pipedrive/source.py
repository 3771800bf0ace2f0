from importlib.resources import files
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional

import yaml
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, AirbyteStreamStatus, ConfiguredAirbyteCatalog, SyncMode, Type
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as stream_status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pipedrive import adapters
from source_pipedrive.sync import Sync

RECORD_QUEUE_SIZE = 1_000  # records between the reading threads and the writer (adapters.bound_record_queue)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_path() -> Path:
    """The manifest this package runs: the copy inside the wheel, else the repository's top-level one."""
    packaged = Path(str(files("source_pipedrive"))) / "manifest.yaml"
    return packaged if packaged.is_file() else Path(__file__).resolve().parent.parent / "manifest.yaml"


def for_catalog(manifest: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog) -> Mapping[str, Any]:
    """The manifest a read needs: only the catalog's streams, and what they refer to (parents too), each entry told
    its sync mode ($parameters.sync_mode, for the retrievers that must know whether a read may end early).

    The CDK walks and copies every node of a manifest before building a stream: for one stream of 74, over 1 s.
    """
    modes = {entry.stream.name: entry.sync_mode.value for entry in catalog.streams}
    definitions = dict(manifest.get("definitions", {}))
    entries = {name: {**entry, "$parameters": {**entry.get("$parameters", {}), "sync_mode": modes[name]}}
               for name, entry in definitions.get("streams", {}).items() if name in modes}
    kept, pending = set(), [list(entries.values()), {k: v for k, v in manifest.items() if k not in ("definitions", "schemas", "streams")}]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            key = tuple(ref[2:].split("/")[:3 if ref.startswith("#/definitions/streams/") else 2]) if isinstance(ref, str) else None
            if key and key not in kept:
                kept.add(key)
                target: Any = manifest
                for part in key:
                    target = target.get(part, {})
                pending.append(target)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    definitions = {k: v for k, v in definitions.items() if ("definitions", k) in kept}
    definitions["streams"] = {**{k: v for k, v in manifest["definitions"]["streams"].items()
                                 if ("definitions", "streams", k) in kept}, **entries}
    return {**manifest, "definitions": definitions,
            "schemas": {k: v for k, v in manifest.get("schemas", {}).items() if ("schemas", k) in kept},
            "streams": [{"$ref": f"#/definitions/streams/{name}"} for name in entries]}


class SourcePipedrive(ConcurrentDeclarativeSource):
    """The manifest in this package, run by the CDK's declarative source; a read builds only its catalog's streams."""

    def __init__(self, catalog: Optional[ConfiguredAirbyteCatalog] = None, config: Optional[Mapping[str, Any]] = None,
                 state: Optional[List[AirbyteStateMessage]] = None, config_path: Optional[str] = None,
                 same_sync: bool = False) -> None:
        if not same_sync:
            Sync.start(config or {})
        manifest = yaml.load(manifest_path().read_text(), Loader=_LOADER)
        if catalog is not None and catalog.streams:
            manifest = for_catalog(manifest, catalog)
        self._built: Optional[List[Any]] = None
        super().__init__(source_config=manifest, catalog=catalog, config=config, state=state, config_path=config_path)
        adapters.bound_record_queue(self, RECORD_QUEUE_SIZE)

    def read(self, logger: Any, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
             state: Optional[List[AirbyteStateMessage]] = None) -> Iterator[AirbyteMessage]:
        """The incremental streams first, then the streams read whole on every sync.

        When a first sync takes several days of API budget, each day's budget goes to what is not done yet: the
        incremental streams resume where they stopped, and the streams read whole every time are read on the day
        everything else is done, not on every day (a second source, so the CDK runs them after the others).
        """
        first = [entry for entry in catalog.streams if entry.sync_mode == SyncMode.incremental] or catalog.streams
        later = [entry for entry in catalog.streams if entry not in first]
        config, failure = dict(config), None
        try:
            for message in self.read_part(logger, config, ConfiguredAirbyteCatalog(streams=first), state):
                if message.type == Type.CONTROL and message.control.connectorConfig:
                    config = dict(message.control.connectorConfig.config)  # a rotated OAuth token, for what follows
                yield message
        except AirbyteTracedException as error:
            failure = error
        finally:
            self._built = None
        if later and Sync.current().stop_reason:
            for entry in later:  # not started: the daily budget stopped the sync first
                yield stream_status(entry.stream, AirbyteStreamStatus.INCOMPLETE)
        elif later:
            catalog_later = ConfiguredAirbyteCatalog(streams=later)
            rest = SourcePipedrive(catalog=catalog_later, config=config, state=state, same_sync=True)
            yield from rest.read_part(logger, config, catalog_later, state)
        if failure is not None:
            raise failure

    def read_part(self, logger: Any, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
                  state: Optional[List[AirbyteStateMessage]]) -> Iterator[AirbyteMessage]:
        # Each stream's schema (with the account's custom fields, one Fields read per entity) is made here, before
        # any stream starts: the CDK also asks for schemas on its main thread (stream status messages), where a
        # request refused by the daily budget would end the whole read before the other streams saved their state.
        selected = {entry.stream.name for entry in catalog.streams}
        self._built = super().streams(config)
        for stream in self._built:
            if stream.name in selected:
                stream.get_json_schema()
        return super().read(logger, config, catalog, state)  # not wrapped: every message passes through here

    def streams(self, config: Mapping[str, Any]) -> List[Any]:
        return self._built if self._built is not None else super().streams(config)
