import functools
import logging
import pickle
import time
from importlib.resources import files
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import yaml
from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    AirbyteStream,
    AirbyteStreamStatus,
    AirbyteStreamStatusReason,
    AirbyteStreamStatusReasonType,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    EstimateType,
    SyncMode,
    AirbyteTraceMessage,
    TraceType,
    Type,
)
from airbyte_cdk.models.airbyte_protocol import AirbyteStreamStatusRateLimitedReason
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as stream_status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_pipedrive import adapters, quiet
from source_pipedrive.budget import GO, PROBE, WAIT, utc_now
from source_pipedrive.outcome import nothing_sent
from source_pipedrive.components import read_whole_now
from source_pipedrive.sync import Sync
from source_pipedrive.tracking import scan_due

RECORD_QUEUE_SIZE = 1_000  # records between the reading threads and the writer (adapters.bound_record_queue)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_path() -> Path:
    """The manifest this package runs: the copy inside the wheel, else the repository's top-level one."""
    packaged = Path(str(files("source_pipedrive"))) / "manifest.yaml"
    return packaged if packaged.is_file() else Path(__file__).resolve().parent.parent / "manifest.yaml"


@functools.lru_cache(maxsize=1)
def _parsed_manifest() -> bytes:
    return pickle.dumps(yaml.load(manifest_path().read_text(), Loader=_LOADER), protocol=pickle.HIGHEST_PROTOCOL)


def load_manifest() -> Dict[str, Any]:
    """The packaged manifest, parsed once per process: a read builds up to four sources, and parsing the YAML costs
    0.1-0.2 s each time. Each call gets its own copy, as the CDK's processing may change what it is given."""
    return pickle.loads(_parsed_manifest())


PROBE_STREAM = "budget_probe"
CHANGE_FEED = "change_feed"


def probe_manifest(name: str = PROBE_STREAM) -> Mapping[str, Any]:
    """A manifest of one stream made of definitions.<name>: budget_probe (the cheapest request every token may send)
    or change_feed (/v1/recents, read before the streams are built)."""
    manifest = load_manifest()
    definitions = {**manifest["definitions"], "streams": {name: manifest["definitions"][name]}}
    catalog = ConfiguredAirbyteCatalog(streams=[probe_entry(name)])
    return {**for_catalog({**manifest, "definitions": definitions}, catalog),
            "check": {"type": "CheckStream", "stream_names": [name]}}


def probe_entry(name: str = PROBE_STREAM) -> ConfiguredAirbyteStream:
    return ConfiguredAirbyteStream(
        stream=AirbyteStream(name=name, json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.append)


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
                 same_sync: bool = False, manifest: Optional[Mapping[str, Any]] = None, build_in_read: bool = False) -> None:
        if not same_sync:
            Sync.start(config or {}).take(catalog, state)
        self._deferred = False  # read() builds the streams, once it knows which have something to read
        if manifest is None and not same_sync and catalog is not None and catalog.streams:
            if Sync.current().ledger.budget.plan(utc_now()).action == WAIT:
                manifest = probe_manifest()  # a read that will send nothing needs no streams built (read() says why)
            elif build_in_read:  # the command line's read: read() builds only the streams with something to read
                manifest, self._deferred = probe_manifest(CHANGE_FEED), True
        if manifest is None:
            manifest = load_manifest()
            if catalog is not None and catalog.streams:
                manifest = for_catalog(manifest, catalog)
        self._built: Optional[List[Any]] = None
        self._keys: Dict[str, set] = {}  # primary keys listed by the streams read whole in this run
        self._estimated: Dict[str, int] = {}  # the row estimates sent (AirbyteEstimateTraceMessage)
        super().__init__(source_config=manifest, catalog=catalog, config=config, state=state, config_path=config_path)
        adapters.bound_record_queue(self, RECORD_QUEUE_SIZE)

    def read(self, logger: Any, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
             state: Optional[List[AirbyteStateMessage]] = None) -> Iterator[AirbyteMessage]:
        """The streams that must finish in this run first, then the others; nothing while the budget is still spent.

        A run the platform starts after a budget stop (a retry, the next scheduled job) sends no request until the
        budget can have reset, and at most one cheap probe an hour while it may have (budget.py). Streams whose rows
        a successful end would lose if unfinished (`must_finish`: full refresh, truncating refreshes) are read before
        the incremental ones, so that a run the budget stops can still end successfully when they are complete
        (run.py decides). A second source reads the second group, so the CDK starts it after the first.
        """
        sync, names = Sync.current(), [entry.stream.name for entry in catalog.streams]
        if not self._budget_allows(logger, config):
            for entry in catalog.streams:
                yield stream_status(entry.stream, AirbyteStreamStatus.STARTED)
                yield self._rate_limited(entry.stream)
            yield from sync.ledger.carry(names)
            return
        config, failure = dict(config), None
        if self._deferred:
            skipped, config = yield from self._skip_unchanged(logger, config, catalog)
            catalog = ConfiguredAirbyteCatalog(streams=[e for e in catalog.streams if e.stream.name not in skipped])
        first = [e for e in catalog.streams if e.stream.name in sync.must_finish]
        groups = [first, [e for e in catalog.streams if e not in first]]
        for number, group in enumerate(g for g in groups if g):
            part = ConfiguredAirbyteCatalog(streams=group)
            if sync.stop_reason:  # the budget stopped an earlier group: these did not start
                for entry in group:
                    yield self._rate_limited(entry.stream)
                continue
            source = self if number == 0 and not self._deferred else \
                SourcePipedrive(catalog=part, config=config, state=state, same_sync=True)
            try:
                for message in source.read_part(logger, config, part, state):
                    if message.type == Type.CONTROL and message.control.connectorConfig:
                        config = dict(message.control.connectorConfig.config)  # a rotated OAuth token, for what follows
                    yield from self._passed_on(message)
            except AirbyteTracedException as error:
                failure = failure or error
            finally:
                source._built = None
        if not sync.stop_reason:
            sync.ledger.budget.finished()
        yield from sync.ledger.carry(names)
        if failure is not None:
            raise failure

    def _skip_unchanged(self, logger: Any, config: Dict[str, Any], catalog: ConfiguredAirbyteCatalog) -> Any:
        """Decides, before any stream is built, which incremental streams have nothing to read in this sync (quiet.py:
        the same decisions their components make when built: read_whole_now, DeletionScan's scan, /v1/recents read
        once here) and reports those as read: started, their notes' state, complete. Building a stream is most of
        what an unchanged sync costs in time; an unchanged sync of every stream reads 7 of 74. Yields messages (a
        rotated OAuth token) and returns (the streams skipped, the config to go on with)."""
        sync, skipped = Sync.current(), set()
        rules = quiet.rules(load_manifest())
        candidates = {e.stream.name: (e, rules[e.stream.name]) for e in catalog.streams
                      if e.sync_mode == SyncMode.incremental and e.stream.name in rules}
        now = utc_now()
        if any(rule.kind == quiet.CHANGES and sync.changes.checked_through(name, now) for name, (_, rule) in candidates.items()):
            config = yield from self._read_alone(CHANGE_FEED, logger, config)  # failed: each stream decides as built
        for name, (entry, rule) in candidates.items():
            if sync.stop_reason:
                break
            if rule.kind == quiet.REFERENCE:
                if read_whole_now(name, config, True):
                    continue
            elif not sync.changes.tried or (rule.scans and scan_due(sync.ledger.blobs.get(name), config, now)) \
                    or sync.changes.since_last_check(name, rule.item, None) != {}:
                continue
            else:
                sync.skip(name, "unchanged")
            skipped.add(name)
            yield from self._passed_on(stream_status(entry.stream, AirbyteStreamStatus.STARTED))
            yield from self._passed_on(stream_status(entry.stream, AirbyteStreamStatus.COMPLETE))
        return skipped, config

    def _passed_on(self, message: AirbyteMessage) -> Iterator[AirbyteMessage]:
        """A message of the CDK's read, with the run's notes written into states, and the streams the budget stopped
        reported as rate-limited rather than complete or incomplete."""
        sync = Sync.current()
        for stream, rows in sync.estimates().items():
            if self._estimated.get(stream) != rows:
                self._estimated[stream] = rows
                yield AirbyteMessage(type=Type.TRACE, trace=AirbyteTraceMessage(
                    type=TraceType.ESTIMATE, emitted_at=time.time() * 1000,
                    estimate=AirbyteEstimateTraceMessage(name=stream, type=EstimateType.STREAM, row_estimate=rows)))
        if message.type == Type.STATE:
            sync.ledger.enrich(message)
        elif message.type == Type.RECORD and message.record.stream in sync.read_whole:
            keys = sync.primary_keys.get(message.record.stream) or []
            self._keys.setdefault(message.record.stream, set()).add(tuple(message.record.data.get(k) for k in keys))
        elif message.type == Type.TRACE and message.trace.type == TraceType.STREAM_STATUS:
            status, stream = message.trace.stream_status.status, message.trace.stream_status.stream_descriptor
            stopped = stream.name in sync.budget_stopped or (status == AirbyteStreamStatus.INCOMPLETE and sync.stop_reason)
            if status in (AirbyteStreamStatus.COMPLETE, AirbyteStreamStatus.INCOMPLETE) and stopped:
                yield self._rate_limited(stream)
                return
            if status == AirbyteStreamStatus.COMPLETE:
                sync.completed.add(stream.name)
                if stream.name in sync.read_whole:
                    yield from self._vanished(stream.name)
                carried = sync.ledger.complete(stream.name)
                if carried is not None:
                    yield carried
        yield message

    def _vanished(self, stream: str) -> Iterator[AirbyteMessage]:
        """Deletion records for what a stream read whole no longer lists, and the keys it lists now, for next time."""
        sync = Sync.current()
        fields, now = sync.primary_keys.get(stream) or [], sync.started_at
        listed = self._keys.pop(stream, set())
        before = {tuple(key) for key in sync.ledger.note(stream, "keys") or () if isinstance(key, list)}
        for key in sorted(before - listed, key=str):
            data = {**dict(zip(fields, key)), "_ab_refreshed_at": now, "_ab_cdc_deleted_at": now}
            yield AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(
                stream=stream, data=data, emitted_at=int(time.time() * 1000)))
        if before - listed:
            logging.getLogger("airbyte").info(f"{stream}: {len(before - listed)} record(s) gone since it was last read.")
        sync.ledger.hold(stream, keys=sorted((list(key) for key in listed), key=str))

    def _budget_allows(self, logger: Any, config: Mapping[str, Any]) -> bool:
        """Whether this run may read: after a budget stop, only once the budget has reset (or a probe says so)."""
        sync = Sync.current()
        plan = sync.ledger.budget.plan(utc_now())
        if plan.action == GO:
            return True
        if plan.action == PROBE:
            logger.info("Probing whether Pipedrive's daily API budget has reset since the last sync stopped for it.")
            for _ in self._read_alone(PROBE_STREAM, logger, config):
                pass  # a 429 (BudgetSpent) or an error: the stop below, or the read that follows, says what
            if not sync.stop_reason:  # the budget reset (or Pipedrive did not say): read, stopping as usual
                return True
        sync.stop(sync.ledger.budget.reason or sync.spent_message(), observed=False)
        logger.info(nothing_sent(plan.reset_by))
        return False

    @staticmethod
    def _read_alone(name: str, logger: Any, config: Dict[str, Any]) -> Any:
        """Reads definitions.<name> (budget_probe, change_feed) through a source of that one stream, built in a fraction
        of a full source's time. Yields the CONTROL messages of a rotated OAuth token and returns the config to go on
        with; a failure ends the read quietly (the sync's stop, or the streams that follow, say what)."""
        catalog = ConfiguredAirbyteCatalog(streams=[probe_entry(name)])
        source = SourcePipedrive(catalog=catalog, config=config, same_sync=True, manifest=probe_manifest(name))
        try:
            for message in source.read_part(logger, config, catalog, None):
                if message.type == Type.CONTROL and message.control.connectorConfig:
                    config = dict(message.control.connectorConfig.config)
                    yield message
        except AirbyteTracedException:
            pass
        return config

    @staticmethod
    def _rate_limited(stream: Any) -> AirbyteMessage:
        reset_by = Sync.current().ledger.budget.plan(utc_now()).reset_by
        quota_reset = int(reset_by.timestamp() * 1000) if reset_by else None
        return stream_status(stream, AirbyteStreamStatus.RUNNING, reasons=[AirbyteStreamStatusReason(
            type=AirbyteStreamStatusReasonType.RATE_LIMITED,
            rate_limited=AirbyteStreamStatusRateLimitedReason(quota_reset=quota_reset))])

    def read_part(self, logger: Any, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog,
                  state: Optional[List[AirbyteStateMessage]]) -> Iterator[AirbyteMessage]:
        # Each stream's schema (with the account's custom fields, one Fields read per entity) is made here, before
        # any stream starts: the CDK also asks for schemas on its main thread (stream status messages), where a
        # request refused by the daily budget would end the whole read before the other streams saved their state.
        selected = {entry.stream.name for entry in catalog.streams}
        self._built = super().streams(config)
        sync = Sync.current()
        for stream in self._built:
            if stream.name in selected:
                stream.get_json_schema()
                if not sync.primary_keys.get(stream.name):  # a catalog without it: the stream's own
                    key = stream.as_airbyte_stream().source_defined_primary_key or []
                    sync.primary_keys[stream.name] = [path[0] for path in key]
        return super().read(logger, config, catalog, state)  # not wrapped: every message passes through here

    def streams(self, config: Mapping[str, Any]) -> List[Any]:
        return self._built if self._built is not None else super().streams(config)


adapters.cache_processed_manifest(SourcePipedrive)
