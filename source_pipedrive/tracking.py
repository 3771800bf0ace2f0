"""Retrievers for streams read in ascending update_time: they save their place and, optionally, find deleted records.

Both wrap the stream's own SimpleRetriever (`retriever`) and receive the stream's cursor from the CDK's factory.
"""

import datetime
import logging
import time
from dataclasses import InitVar, dataclass
from typing import Any, Iterable, Mapping, Optional, Set, Tuple

from airbyte_cdk.models import AirbyteMessage, AirbyteStateBlob, AirbyteStateMessage, AirbyteStateType
from airbyte_cdk.models import AirbyteStreamState, StreamDescriptor
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.types import Config, Record, StreamSlice

from source_pipedrive import adapters
from source_pipedrive.budget import utc_now
from source_pipedrive.components import SETTLED_SECONDS, interval_hours, parsed_body, read_whole_now
from source_pipedrive.id_sets import decode_ids, encode_ids
from source_pipedrive.sync import BudgetSpent, Sync

_LOGGER = logging.getLogger("airbyte")
SCAN_KEY = "deletion_scan"  # in the stream state: {"ids": id_sets text, "scanned_at": RFC 3339 or null}


def _sortable(value: Any) -> str:
    """RFC 3339 and "YYYY-MM-DD HH:MM:SS" timestamps, comparable as strings to the second."""
    return str(value or "")[:19].replace(" ", "T")


def _past_if_settled(highest: str, read_at: float) -> str:
    """The highest update_time read, one second later once that second ended SETTLED_SECONDS before the read: no
    record can still get it, so the next sync need not read that second again (nor emit its records twice)."""
    moment = datetime.datetime.strptime(highest, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    if moment.timestamp() + 1 + SETTLED_SECONDS > read_at:
        return highest
    return (moment + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class CheckpointedRead(Retriever):
    """Saves a stream's place while it reads, not only when it ends.

    The CDK writes a stream's state when its partition ends: a sync killed after 900,000 of 1,000,000 records would
    read them all again. Records arrive in ascending update_time, so every `every_records` records this emits a state
    with the highest update_time read so far (after those records, on the same queue). When the daily API budget
    stops the sync, an incremental read ends here as if the list had ended: the CDK then saves the highest
    update_time read, and the next sync continues from it. A full-refresh read fails instead (the destination must
    not take part of a list for all of it), and so does a list not sorted by its cursor.
    Used by definitions.v2_incremental and v1_incremental.
    """

    retriever: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor: Any = None  # the stream's ConcurrentCursor, passed by the CDK's factory
    every_records: int = 50_000
    changes_requester: Optional[Requester] = None  # GET /v1/recents (changes.py), for streams with `changes_item`
    total_requester: Optional[Requester] = None  # a v1 */summary: the stream's total, for the platform's progress

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.name = parameters.get("name", "")
        self.changes_item = parameters.get("changes_item")  # the /v1/recents item type of this stream's records
        self.recent: Optional[Mapping[Any, Mapping[str, Any]]] = None
        self.incremental = parameters.get("sync_mode", "incremental") == "incremental"
        self.ordered = True  # records arrive in ascending cursor order: the highest read so far is a safe restart
        self.cursor_field = str(getattr(getattr(self.cursor, "cursor_field", None), "cursor_field_key", "update_time"))
        self._extras = adapters.cursor_state_extras(self.cursor)
        self._observe_highest = adapters.take_over_observe(self.cursor)
        self.every_records = int(self.every_records)

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        stream_slice = stream_slice or StreamSlice(partition={}, cursor_slice={})
        self.highest = ""
        changes = Sync.current().changes
        if self.changes_item and self.changes_requester is not None and self.incremental:
            self.recent = changes.since_last_check(self.name, self.changes_item, self.changes_requester)
            if self.recent == {} and not self.must_read():
                Sync.current().skip(self.name, "unchanged")
                return
        else:
            changes.reading(self.name)
        if self.total_requester is not None and self.incremental and not Sync.current().ledger.note(self.name, "checked_through"):
            self._estimate()
        started, finished = time.time(), False
        try:
            yield from self._read(records_schema, stream_slice)
            finished = True
        except BudgetSpent:
            if not (self.incremental and self.ordered):
                raise
            Sync.current().budget_stopped.add(self.name)
            _LOGGER.info(f"{self.name}: stopped at update_time {self.highest or '(none read)'}; the next sync "
                         "continues from there.")
        finally:
            if self._observe_highest is not None and self.highest:
                self._observe_highest(stream_slice, (_past_if_settled(self.highest, started) if finished else self.highest) + "Z")

    def _estimate(self) -> None:
        """Until the stream has once been read to its end, the total Pipedrive's summary reports (one request a run)
        becomes an ESTIMATE, so the Airbyte UI can show how far a first sync of several budget-days has come."""
        try:
            response = self.total_requester.send_request()
            total = ((parsed_body(response) or {}).get("data") or {}).get("total_count") if response is not None else None
        except BudgetSpent:
            raise
        except Exception as error:  # noqa: BLE001 - an estimate is a courtesy: its failure must not fail the stream
            _LOGGER.info(f"{self.name}: no estimate of its records ({type(error).__name__}).")
            return
        if isinstance(total, int):
            Sync.current().estimate(self.name, total)

    def must_read(self) -> bool:
        """Whether the stream reads even when Pipedrive reports no change of it."""
        return False

    def _read(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Iterable[Any]:
        return self._checkpointed(records_schema, stream_slice, None)

    def _checkpointed(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice,
                      seen: Optional[Set[int]]) -> Iterable[Any]:
        count, undated, field, every = 0, False, self.cursor_field, self.every_records
        remember = seen.add if seen is not None else None
        for record in self.retriever.read_records(records_schema, stream_slice):
            if remember is not None:
                remember(record["id"])
            value = record.get(field)
            value = value[:19] if value.__class__ is str and value[10:11] == "T" else _sortable(value)
            if value > self.highest:
                self.highest = value
            elif not value and not undated:
                undated = True
                _LOGGER.warning(f"Could not find cursor field `{self.cursor_field}` in a record of stream {self.name}: "
                                "it is emitted, and the state does not move for it.")
            yield record
            count += 1
            if count % every == 0 and self.highest:
                yield self._checkpoint(seen)

    def _checkpoint(self, seen: Optional[Set[int]]) -> AirbyteMessage:
        """The state a sync killed now should restart from: the cursor at the highest update_time read (its second
        is read again), and the ids emitted so far added to the set of a stream that scans for deletes."""
        state = {**(self._extras or {}), self.cursor_field: self.highest + "Z"}
        if seen is not None:
            state[SCAN_KEY] = {**(state.get(SCAN_KEY) or {"scanned_at": None}), "ids": encode_ids(self.known_ids() | seen)}
        return AirbyteMessage(type=MessageType.STATE, state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=self.name), stream_state=AirbyteStateBlob(state))))

    def known_ids(self) -> Set[int]:
        return set()


@dataclass
class DeletionScan(CheckpointedRead):
    """Emits each record that disappeared from a list since the last sync, once, as a deletion.

    Pipedrive lists persons, organizations, activities, products, notes, pipelines and stages without their deleted
    records, and nothing else reports the deletion. The stream's state keeps the ids it has emitted; at most every
    `deletion_scan_interval_hours` a sync lists every id since the start date, reads the changes, then compares. An
    id emitted before and listed no more is a deletion once confirmed gone: v2 ids by one `ids=` lookup per 100
    (`verify_requester`; a record that moved during the listing must never look deleted), v1 lists by a second
    listing (their offset paging can skip a row when others move). It is emitted as {id, is_deleted, update_time,
    _ab_cdc_deleted_at}. Listed ids never emitted and older than the cursor (restored, un-archived) are emitted too.
    `client_side_filter`: lists without updated_since (pipelines, stages) are read whole every sync, so every sync
    compares, and records are filtered by the cursor here. A read the budget stops compares nothing.
    Used by definitions.v2_tracked, v1_tracked and small_tracked.
    """

    scan_start: str = ""  # the configured start date, in the cursor slice's format: the listing's lower bound
    verify_requester: Optional[Requester] = None
    client_side_filter: bool = False

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self.ordered = not self.client_side_filter
        self.scan_start = InterpolatedString.create(self.scan_start, parameters=parameters).eval(self.config)
        self._known: Optional[Set[int]] = None
        self._scanned_at: Optional[datetime.datetime] = None
        try:
            self._known, self._scanned_at = saved_scan(self._extras)
        except ValueError:
            _LOGGER.warning(f"{self.name}: the id set saved in the state is unreadable; a scan rebuilds it.")
            self._known, self._scanned_at = None, None

    def known_ids(self) -> Set[int]:
        return set(self._known or ())

    def must_read(self) -> bool:
        return not self.client_side_filter and self._scan_due(utc_now())

    def _scan_due(self, now: datetime.datetime) -> bool:
        return _due(self._known, self._scanned_at, self.config, now)

    def _read(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Iterable[Any]:
        now = utc_now()
        before, listed, seen = self._known, set(), set()
        complete = full = False
        try:
            if self.client_side_filter:
                for record in self.retriever.read_records(records_schema, stream_slice):
                    seen.add(record["id"])
                    value = _sortable(record.get(self.cursor_field))
                    self.highest = max(self.highest, value)
                    if self.cursor is None or self.cursor.should_be_synced(self._as_record(record, stream_slice)):
                        yield record
                gone = (before or set()) - seen
            else:
                full = _sortable(stream_slice.cursor_slice.get("start_time")) <= _sortable(self.scan_start)
                due = self._scan_due(now)
                if due and not full:
                    yield from self._list_and_restore(records_schema, stream_slice, listed)
                    self._known = (before or set()) | listed  # checkpoints from here on remember the listing
                yield from self._checkpointed(records_schema, stream_slice, seen)
                if not (due or full):
                    gone = self._recently_deleted((before or set()) - seen, records_schema, stream_slice)
                    yield from self._deletions(gone, now)
                    complete = True
                    self._save((before or set()) - gone | seen, self._scanned_at)
                    return
                gone = (before or set()) - listed - seen
                gone -= self._alive(gone, records_schema, stream_slice)
                listed |= (before or set()) - seen - gone
            yield from self._deletions(gone, now)
            complete = True
            self._save(listed | seen, now)
        finally:
            if not complete:  # stopped early: nothing is concluded, everything read is remembered
                self._save(self.known_ids() | listed | seen, self._scanned_at or (now if full else None))

    def _deletions(self, gone: Set[int], now: datetime.datetime) -> Iterable[Any]:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for record_id in sorted(gone):
            yield {"id": record_id, "is_deleted": True, self.cursor_field: stamp, "_ab_cdc_deleted_at": stamp}
        if gone:
            _LOGGER.info(f"{self.name}: {len(gone)} record(s) deleted in Pipedrive since the last sync.")

    def _recently_deleted(self, unseen: Set[int], records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Set[int]:
        """The records /v1/recents reported changed that the read did not list: deleted ones, once confirmed gone.

        v2 lists are asked by id (`verify_requester`); for v1 notes recents' own object says it (active_flag false),
        and a note it does not report so waits for the next deletion scan."""
        candidates = {rid for rid in (self.recent or {}) if rid in unseen}
        if not candidates:
            return set()
        if self.verify_requester is not None:
            return candidates - self._alive(candidates, records_schema, stream_slice)
        return {rid for rid in candidates if self.recent[rid].get("active_flag") is False or self.recent[rid].get("is_deleted")}

    def _list_and_restore(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice, listed: Set[int]) -> Iterable[Any]:
        _LOGGER.info(f"{self.name}: listing every id to find deleted records (deletion_scan_interval_hours).")
        window_start = _sortable(stream_slice.cursor_slice.get("start_time"))
        for record in self.retriever.read_records(records_schema, self._scan_slice(stream_slice)):
            listed.add(record["id"])
            if self._known is not None and record["id"] not in self._known and \
                    _sortable(record.get(self.cursor_field)) < window_start:
                yield self._as_record(record, stream_slice)  # restored or un-archived: older than the state

    def _alive(self, candidates: Set[int], records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Set[int]:
        if not candidates:
            return set()
        alive: Set[int] = set()
        if self.verify_requester is None:
            for record in self.retriever.read_records(records_schema, self._scan_slice(stream_slice)):
                alive.add(record["id"])
            return alive & candidates
        ordered = sorted(candidates)
        for i in range(0, len(ordered), 100):
            response = self.verify_requester.send_request(
                request_params={"ids": ",".join(map(str, ordered[i:i + 100])), "limit": 100})
            for item in (parsed_body(response).get("data") or []) if response is not None else []:
                if not item.get("is_deleted"):
                    alive.add(item.get("id"))
        return alive

    def _scan_slice(self, stream_slice: StreamSlice) -> StreamSlice:
        return StreamSlice(partition=stream_slice.partition, extra_fields=stream_slice.extra_fields,
                           cursor_slice={**stream_slice.cursor_slice, "start_time": self.scan_start})

    def _save(self, ids: Set[int], scanned_at: Optional[datetime.datetime]) -> None:
        self._known, self._scanned_at = ids, scanned_at
        if self._extras is not None:
            self._extras[SCAN_KEY] = {"ids": encode_ids(ids),
                                      "scanned_at": scanned_at.strftime("%Y-%m-%dT%H:%M:%SZ") if scanned_at else None}

    def _as_record(self, record: Mapping[str, Any], stream_slice: StreamSlice) -> Record:
        data = record.data if isinstance(record, Record) else record
        return Record(data=data, stream_name=self.name, associated_slice=stream_slice)


def _parse_utc(value: Any) -> Optional[datetime.datetime]:
    if not value:
        return None
    return datetime.datetime.strptime(_sortable(value), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)


@dataclass
class RefreshedRead(Retriever):
    """A list Pipedrive reports no changes of (reference data), in incremental mode read whole at most every
    `reference_refresh_hours`, and not at all in between (components.read_whole_now). Records carry the read time
    as their cursor (`_ab_refreshed_at`); source.py emits what vanished since the last read as deleted. Full refresh
    reads it every sync. Used by definitions.refreshed.
    """

    retriever: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor: Any = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.name = parameters.get("name", "")
        self.incremental = parameters.get("sync_mode", "incremental") == "incremental"

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        if read_whole_now(self.name, self.config, self.incremental):
            yield from self.retriever.read_records(records_schema, stream_slice)


@dataclass
class NewestFirst(Retriever):
    """A list Pipedrive returns newest first (mail threads), read only down to the cursor of the last sync: the pages
    after the first record older than it hold nothing new. A record of the cursor's own second is still read (the
    cursor is inclusive). It is the stream's filter too: the cursor must not be client-side, whose filter would hide
    the record to stop at. Used by the mail stream and the mail-thread parent lists of mail_messages.
    """

    retriever: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor: Any = None
    cursor_field: str = "update_time"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.incremental = parameters.get("sync_mode", "incremental") == "incremental"

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        since = _sortable((stream_slice.cursor_slice if stream_slice else {}).get("start_time")) if self.incremental else ""
        for record in self.retriever.read_records(records_schema, stream_slice):
            if since and _sortable(record.get(self.cursor_field)) < since:
                return
            yield record


def saved_scan(stream_state: Optional[Mapping[str, Any]]) -> Tuple[Optional[Set[int]], Optional[datetime.datetime]]:
    """The ids and the time of the last deletion scan a stream state holds ((None, None) if none); ValueError when
    they cannot be read."""
    saved = (stream_state or {}).get(SCAN_KEY)
    if not saved:
        return None, None
    try:
        return decode_ids(saved["ids"]), _parse_utc(saved["scanned_at"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"unreadable {SCAN_KEY} in the state") from error


def scan_due(stream_state: Optional[Mapping[str, Any]], config: Config, now: datetime.datetime) -> bool:
    """Whether a DeletionScan stream starting from `stream_state` scans in this sync (as DeletionScan.must_read)."""
    try:
        return _due(*saved_scan(stream_state), config, now)
    except ValueError:
        return True


def _due(known: Optional[Set[int]], scanned_at: Optional[datetime.datetime], config: Config, now: datetime.datetime) -> bool:
    interval = datetime.timedelta(hours=interval_hours(config.get("deletion_scan_interval_hours"), 24))
    return known is None or not scanned_at or now - scanned_at >= interval


@dataclass
class ChangeFeedRead(Retriever):
    """Reads /v1/recents for the whole sync and returns no record (definitions.change_feed, source.py)."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    changes_requester: Optional[Requester] = None
    cursor: Any = None

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        if self.changes_requester is not None:
            Sync.current().changes.read_feed(self.changes_requester)
        return iter(())
