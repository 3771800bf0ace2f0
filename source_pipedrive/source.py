from importlib.resources import files
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional

import yaml
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource

from source_pipedrive.sync import Sync

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


def budget_first(catalog: ConfiguredAirbyteCatalog) -> ConfiguredAirbyteCatalog:
    """The catalog with its incremental streams first: when a first sync takes several days of API budget, each day's
    budget goes to what is not done yet (incremental streams resume), and the streams that must be read whole on
    every sync are read on the day everything else is done, not every day."""
    ordered = sorted(catalog.streams, key=lambda entry: entry.sync_mode != SyncMode.incremental)
    return ConfiguredAirbyteCatalog(streams=ordered)


class SourcePipedrive(ConcurrentDeclarativeSource):
    """The manifest in this package, run by the CDK's declarative source; a read builds only its catalog's streams."""

    def __init__(self, catalog: Optional[ConfiguredAirbyteCatalog] = None, config: Optional[Mapping[str, Any]] = None,
                 state: Optional[List[AirbyteStateMessage]] = None, config_path: Optional[str] = None) -> None:
        Sync.start(config or {})
        manifest = yaml.load(manifest_path().read_text(), Loader=_LOADER)
        if catalog is not None and catalog.streams:
            manifest = for_catalog(manifest, catalog)
        super().__init__(source_config=manifest, catalog=catalog, config=config, state=state, config_path=config_path)

    def read(self, logger: Any, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
             state: Optional[List[AirbyteStateMessage]] = None) -> Iterator[AirbyteMessage]:
        yield from super().read(logger, config, budget_first(catalog), state)
