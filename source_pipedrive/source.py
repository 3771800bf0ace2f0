from importlib.resources import files
from queue import Queue
from pathlib import Path
from typing import Any, Collection, List, Mapping, Optional

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.types import ConnectionDefinition


def manifest_path() -> Path:
    """The manifest this package runs: the copy inside the wheel, else the repository's top-level one.

    An absolute path, because the CDK would otherwise prefer any manifest.yaml in the working directory.
    """
    packaged = Path(str(files("source_pipedrive"))) / "manifest.yaml"
    return packaged if packaged.is_file() else Path(__file__).resolve().parent.parent / "manifest.yaml"


def streams_named(manifest: ConnectionDefinition, names: Collection[str]) -> ConnectionDefinition:
    """The manifest with only the listed streams, and only the definitions and schemas they use (parents too).

    The CDK resolves and builds every stream of the manifest before reading any: about 1.3 s for 74 streams,
    most of an incremental sync's CPU when the catalog selects a few. A catalog name the manifest lacks selects
    nothing here; the CDK treats it as it did with the whole manifest.
    """
    definitions = manifest.get("definitions", {})

    def name_of(entry: Mapping[str, Any]) -> Optional[str]:
        ref = entry.get("$ref", "")
        if "name" in entry or not ref.startswith("#/definitions/"):
            return entry.get("name")
        node: Any = definitions
        for part in ref[len("#/definitions/"):].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node.get("name") if isinstance(node, Mapping) else None

    selected = {**manifest, "streams": [entry for entry in manifest.get("streams", []) if name_of(entry) in names]}
    return _without_unreferenced_definitions(selected)


def _without_unreferenced_definitions(manifest: ConnectionDefinition) -> ConnectionDefinition:
    """Drops the stream definitions and schemas that nothing left in the manifest refers to, even indirectly.

    The CDK walks and copies every node of the manifest, referenced or not, before building a stream: with the
    74 streams' definitions and schemas still there, a one-stream read spends 0.6 s on nodes it never uses.
    """
    def key_of(ref: str) -> tuple:
        parts = tuple(ref[2:].split("/"))
        return parts[:3] if parts[:2] == ("definitions", "streams") else parts[:2]

    def node_at(key: tuple) -> Any:
        node: Any = manifest
        for part in key:
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    kept: set = set()
    pending = [value for key, value in manifest.items() if key not in ("definitions", "schemas")]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and key_of(ref) not in kept:
                kept.add(key_of(ref))
                pending.append(node_at(key_of(ref)))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)

    definitions = {key: value for key, value in manifest.get("definitions", {}).items()
                   if key != "streams" and ("definitions", key) in kept}
    if "streams" in manifest.get("definitions", {}):
        definitions["streams"] = {name: value for name, value in manifest["definitions"]["streams"].items()
                                  if ("definitions", "streams", name) in kept}
    schemas = {name: value for name, value in manifest.get("schemas", {}).items() if ("schemas", name) in kept}
    return {**manifest, "definitions": definitions, "schemas": schemas}


# Records wait in one queue between the threads that read pages and the thread that writes them. The writer is the
# slower side, so the CDK's 10,000 slots fill up and hold ~50 MB of decoded records; two pages' worth keep the
# writer as busy and peak RSS flat (the CDK's main thread never blocks on a full queue: it buffers instead).
RECORD_QUEUE_SIZE = 1_000


class SourcePipedrive(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        # With a catalog (a read), only its streams are built; spec, check and discover see the whole manifest.
        self._selected = {entry.stream.name for entry in catalog.streams} if catalog and catalog.streams else None
        super().__init__(
            path_to_yaml=str(manifest_path()), catalog=catalog, config=config, state=state, config_path=config_path
        )
        queue = getattr(getattr(self, "_concurrent_source", None), "_queue", None)
        if isinstance(queue, Queue):
            queue.maxsize = RECORD_QUEUE_SIZE

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> ConnectionDefinition:
        manifest = super()._read_and_parse_yaml_file(path_to_yaml_file)
        return manifest if self._selected is None else streams_named(manifest, self._selected)
