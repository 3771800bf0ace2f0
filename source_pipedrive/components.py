"""CDK adapters for what the manifest cannot say in YAML. The Pipedrive semantics live in custom_fields.py."""

import datetime
import logging
import random
import threading
from dataclasses import InitVar, dataclass, field
from typing import Any, Generator, Iterable, Mapping, MutableMapping, Optional, Union

import orjson
import requests

from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
)
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState

from source_pipedrive.custom_fields import CustomFieldMap
from source_pipedrive.id_sets import decode_ids, encode_ids


@dataclass
class LegacyCredentialsMigration(ConfigTransformation):
    """Moves the credentials of Airbyte's older Pipedrive connectors into today's `credentials` one-of.

    2.x kept `api_token` at the root; 0.1.x kept `authorization` with auth_type Token or Client. YAML's
    ConfigRemapField cannot build one object from another's fields conditionally, hence this class.
    Used by spec.config_normalization_rules.config_migrations; the CDK then writes the config back and emits
    the CONTROL message, so the platform stores the new shape once.
    """

    def transform(self, config: MutableMapping[str, Any]) -> None:
        if "credentials" in config:
            return
        legacy = config.pop("authorization", None)
        if isinstance(legacy, dict) and legacy.get("auth_type") == "Client":
            credentials = {"auth_type": "oauth2.0"}
            for key in ("client_id", "client_secret", "refresh_token", "access_token", "token_expiry_date"):
                if legacy.get(key) is not None:
                    credentials[key] = legacy[key]
            config["credentials"] = credentials
        elif isinstance(legacy, dict) and "api_token" in legacy:
            config["credentials"] = {"auth_type": "api_token", "api_token": legacy["api_token"]}
        elif "api_token" in config:
            config["credentials"] = {"auth_type": "api_token", "api_token": config.pop("api_token")}
        elif legacy is not None:
            config["authorization"] = legacy  # unknown shape: leave it for spec validation to name


@dataclass
class RecordsAtPath(RecordExtractor):
    """The records under a fixed key path of a Pipedrive response (`data`, or `data.goals`), decoded with orjson.

    DpathExtractor walks every node of a 500-record page to fetch one key and decodes with the standard json
    module: about half the CPU of a read. A list yields its items, an object yields itself, null yields nothing
    (v1 lists answer `data: null` when empty). Used by definitions.data_selector and the goals stream.
    """

    field_path: list
    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[str, Any]]:
        body: Any = parsed_body(response)
        for key in self.field_path:
            body = body.get(key) if isinstance(body, dict) else None
        if isinstance(body, list):
            yield from body
        elif body:
            yield body


class ParsedOnceJsonDecoder(JsonDecoder):
    """The CDK's JsonDecoder, but reusing the body the error handler already decoded (parsed_body).

    The paginator decodes every page again to read its next cursor: a third full parse of 500 records, about a
    sixth of a read's CPU. Subclassing JsonDecoder keeps the CDK's check that a paginator's decoder is JSON.
    Used as definitions.json_decoder by every SimpleRetriever.
    """

    def __init__(self, **kwargs: Any) -> None:  # the factory passes only annotated fields: none here
        super().__init__(parameters={})

    def decode(self, response: requests.Response) -> Generator[MutableMapping[str, Any], None, None]:
        try:
            body = parsed_body(response)
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            body = None
        if body is None:  # not JSON, or null: the CDK's own fallbacks
            yield from super().decode(response)
            return
        # The paginator reads a page last, after its records. Dropping the page from the response here frees it
        # (raw and decoded, ~6 MB) even when the response outlives it: when the CDK's rate limiter makes a request
        # wait, its frames (and so the response) stay in a reference cycle until a full garbage collection, and
        # under Pipedrive's burst limit that is most requests.
        response.__dict__.pop(_PARSED, None)
        response._content = b""
        if isinstance(body, list):
            yield from body or [{}]
        else:
            yield body


@dataclass
class RateLimitAwareBackoff(BackoffStrategy):
    """Waits as long as Pipedrive says on a 429, else backs off exponentially with jitter.

    Pipedrive puts x-ratelimit-reset (relative seconds until its 2-second window frees) on every response, so the
    CDK's WaitTimeFromHeader would also apply it to 5xx and timeouts and retry those almost at once. Jitter keeps
    the workers of one sync (and other syncs of the company) from retrying in lockstep.
    Used by definitions.base_error_handler.backoff_strategies.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)
    base_seconds: float = 2.0
    max_seconds: float = 60.0

    def backoff_time(
        self, response_or_exception: Optional[Union[requests.Response, requests.RequestException]], attempt_count: int
    ) -> Optional[float]:
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            headers = response_or_exception.headers
            for header in ("Retry-After", "x-ratelimit-reset"):
                try:
                    return min(max(float(headers[header]), 0.5), self.max_seconds)
                except (KeyError, TypeError, ValueError):
                    continue
        exponential = self.base_seconds * 2 ** max(attempt_count - 1, 0)
        return min(exponential, self.max_seconds) * random.uniform(0.75, 1.25)


_PARSED = "_pipedrive_body"  # attribute under which a decoded response body is kept for the extractor


def parsed_body(response: requests.Response) -> Any:
    """The decoded JSON body, decoded once per response (orjson) and shared by error handler and extractor."""
    body = getattr(response, _PARSED, None)
    if body is None:
        body = orjson.loads(response.content)
        setattr(response, _PARSED, body)
    return body


@dataclass
class PipedriveErrorHandler(ErrorHandler):
    """Answers the two cases the manifest's DefaultErrorHandler (`inner`) handles badly, and defers the rest to it.

    - A successful page: the CDK would decode the body with the json module once per predicate filter (four
      times a page, about a third of a read's CPU). A 2xx whose body decodes to an object succeeds here after one
      orjson decode, which the extractor reuses; one that does not decode (cut short) is retried.
    - A host name that does not resolve (a mistyped api_domain): the CDK would retry it for minutes, then report a
      urllib3 traceback; here it fails at once with a sentence. A CompositeErrorHandler cannot do this: a later
      handler's RETRY wins over an earlier FAIL.
    Used as definitions.base_error_handler.
    """

    parameters: InitVar[Mapping[str, Any]]
    inner: ErrorHandler
    config: Config = field(default_factory=dict)

    @property
    def max_retries(self) -> Optional[int]:
        return self.inner.max_retries

    @property
    def max_time(self) -> Optional[int]:
        return self.inner.max_time

    @property
    def backoff_strategies(self) -> Optional[list]:
        return getattr(self.inner, "backoff_strategies", None)

    def interpret_response(self, response_or_exception: Any) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response) and 200 <= response_or_exception.status_code < 300:
            if "json" in response_or_exception.headers.get("content-type", "application/json"):
                try:
                    if isinstance(parsed_body(response_or_exception), dict):
                        return ErrorResolution(response_action=ResponseAction.SUCCESS)
                except orjson.JSONDecodeError:
                    return ErrorResolution(
                        response_action=ResponseAction.RETRY,
                        failure_type=FailureType.transient_error,
                        error_message="Pipedrive sent a response that is not valid JSON (cut short?); retrying.",
                    )
        if isinstance(response_or_exception, requests.exceptions.ConnectionError) and any(
            marker in repr(response_or_exception)
            for marker in ("NameResolutionError", "Name or service not known", "getaddrinfo failed")
        ):
            request = getattr(response_or_exception, "request", None)
            url = request.url if request is not None else self.config.get("api_domain") or ""
            host = requests.utils.urlparse(url).hostname or "of the API"
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error,
                error_message=f"Could not reach Pipedrive: the host name {host} does not resolve. Check api_domain "
                "(https://api.pipedrive.com or https://<company>.pipedrive.com).",
            )
        return self.inner.interpret_response(response_or_exception)


@dataclass
class MarkDeleted(RecordTransformation):
    """Sets Airbyte's CDC `_ab_cdc_deleted_at` to the deletion time on a deleted record (Pipedrive stamps
    update_time with it), so deduplicating destinations drop or flag it.

    A record is deleted when `flag` equals `deleted_value`: deals and users say is_deleted=true, activity types
    active_flag=false (Pipedrive's DELETE only deactivates them, and the list keeps them).
    AddFields with a condition renders two Jinja templates per record (36 µs); this is a dict lookup.
    Used by the deal, user and activity type streams' transformations.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)
    flag: str = "is_deleted"
    deleted_value: bool = True
    time_field: str = "update_time"

    def transform(self, record: MutableMapping[str, Any], config: Optional[Config] = None,
                  stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None) -> None:
        value = record.get(self.flag)
        if value is not None and bool(value) == self.deleted_value:
            record["_ab_cdc_deleted_at"] = record.get(self.time_field)


def _read_v2_list(requester: Requester) -> Iterable[Mapping[str, Any]]:
    """Every item of a v2 list, following next_cursor (the same rule as the manifest's v2_cursor_paginator).

    A SimpleRetriever cannot be nested in a custom component in CDK 7.39 (its required empty `transformations`
    argument is lost while $parameters propagate), so the few lines of paging are repeated here.
    """
    params: dict = {"limit": 500}
    while True:
        body = requester.send_request(request_params=params).json()
        yield from body.get("data") or []
        next_cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not next_cursor:
            return
        params = {"limit": 500, "cursor": next_cursor}


# Field lists read in this process: {(id(config), fields URL): (config, items)}. The schema loader and the flattener
# of a stream (and deals and deals_archived) need the same list, and each used to read it. Keyed by the config
# object the source built its components with, so one source's components share a read and another source (a
# new sync in the same process, as in tests) reads again; the config is kept so that its id is not reused.
_FIELD_LISTS: dict = {}
_FIELD_LISTS_LOCK = threading.Lock()


def _field_list(requester: Requester, config: Config) -> list:
    get_url = getattr(requester, "get_url", None)
    if get_url is None:
        return list(_read_v2_list(requester))
    key = (id(config), get_url())
    with _FIELD_LISTS_LOCK:
        cached = _FIELD_LISTS.get(key)
    if cached is not None and cached[0] is config:
        return cached[1]
    items = list(_read_v2_list(requester))
    with _FIELD_LISTS_LOCK:
        _FIELD_LISTS[key] = (config, items)
    return items


@dataclass
class _FieldMapSource:
    """Reads an entity's *Fields list once through a requester declared in YAML and builds its CustomFieldMap."""

    fields_requester: Requester
    base_schema_loader: SchemaLoader
    naming: str
    config: Config = field(default_factory=dict)
    _map: Optional[CustomFieldMap] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> CustomFieldMap:
        with self._lock:  # partitions of one stream flatten records on several threads
            if self._map is None:
                fields = _field_list(self.fields_requester, self.config)
                self._map = CustomFieldMap.from_fields(
                    fields, builtin_columns=self.base_schema_loader.get_json_schema()["properties"].keys(), naming=self.naming
                )
            return self._map


def _naming(config: Config) -> str:
    return "hash" if config.get("custom_field_names") == "hash" else "readable"


@dataclass
class CustomFieldsSchemaLoader(SchemaLoader):
    """The stream's documented schema plus one typed column per custom field of the account.

    DynamicSchemaLoader maps one field to one property and cannot rename with the collision rules or add the
    `_currency`/`_until`/address sub-columns, so the columns come from custom_fields.CustomFieldMap.
    Used by `schema_loader` of the streams whose records carry custom fields.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    base_schema_loader: SchemaLoader  # the documented, static part of the stream's schema
    fields_requester: Requester

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._fields = _FieldMapSource(self.fields_requester, self.base_schema_loader, _naming(self.config), self.config)

    def get_json_schema(self) -> Mapping[str, Any]:
        schema = dict(self.base_schema_loader.get_json_schema())
        schema["properties"] = {**schema["properties"], **self._fields.get().schema_properties()}
        return schema


@dataclass
class CustomFieldsFlattener(RecordTransformation):
    """Replaces a record's custom_fields object by the typed, labelled columns CustomFieldsSchemaLoader declares.

    The field definitions are read once per sync, before the first record, never per page or record.
    Used by `transformations` of the same streams.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    base_schema_loader: SchemaLoader  # the documented, static part of the stream's schema
    fields_requester: Requester
    api_version: str = "v2"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._fields = _FieldMapSource(self.fields_requester, self.base_schema_loader, _naming(self.config), self.config)

    def transform(
        self,
        record: MutableMapping[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        field_map = self._fields.get()
        if self.api_version == "v1":
            field_map.flatten_v1(record)
        else:
            field_map.flatten_v2(record)


DELETIONS_STATE_KEY = "deletion_scan"  # {"ids": id_sets text, "scanned_at": RFC 3339 or null} in the stream state
_LOGGER = logging.getLogger("airbyte")


@dataclass
class TrackingRetriever(Retriever):
    """The stream's own retriever (`retriever`), plus what the CDK's cursor cannot do: checkpoints within a stream,
    and deletes for data sets Pipedrive lists without their deleted records.

    Checkpoints: the CDK saves state when a stream ends, so a sync killed after 900,000 of 1,000,000 records would
    read them all again. Records arrive in ascending update_time, so every `checkpoint_every_records` a state with
    the highest update_time read so far is emitted, after those records (same queue, same thread).

    Deletes (`detect_deletions`): Pipedrive's lists leave deleted persons, organizations, activities, products,
    notes, pipelines and stages out, and nothing else reports their deletion. The state keeps the ids this stream
    has emitted, and a scan (every `deletion_scan_interval_hours`) lists the ids that exist today. An id that was
    emitted and no longer exists is emitted once as a deletion: {id, is_deleted, <cursor>, _ab_cdc_deleted_at}.
    Before that, v2 ids are confirmed gone with one `ids=` lookup per 100 (a record moved during the scan must not
    look deleted); v1 lists, whose offset paging can skip a row when others move, confirm with a second listing.
    The scan also emits records that appear with an update_time older than the state (restored, un-archived),
    which an updated_since read never returns.

    `client_side_filter`: for lists without updated_since (pipelines, stages) the read itself lists every id, so
    every sync is a free scan; records are filtered by the cursor here instead of by the CDK.

    Extra keys travel in the state the CDK's cursor emits (its `legacy` part keeps keys it does not own).
    Used as the retriever of the streams above (definitions.*_tracked_stream).
    """

    retriever: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor: Any = None  # the stream's ConcurrentCursor, passed by the CDK's factory
    name: str = ""
    detect_deletions: bool = True
    scan_start: str = ""  # the configured start date in slice format: the scan's lower bound
    verify_requester: Optional[Requester] = None  # v2 list taking `ids=`; without it a second listing confirms
    client_side_filter: bool = False
    record_time_format: str = "%Y-%m-%dT%H:%M:%SZ"  # how the stream's records write their cursor field
    slice_start_field: str = "start_time"
    checkpoint_every_records: int = 50_000

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.scan_start = InterpolatedString.create(self.scan_start, parameters=parameters).eval(self.config)
        self.checkpoint_every_records = int(self.checkpoint_every_records)
        saved = self._state().get(DELETIONS_STATE_KEY) if self.detect_deletions else None
        try:
            self._known: Optional[set] = decode_ids(saved["ids"]) if saved else None
            self._scanned_at: Optional[datetime.datetime] = _parse_utc(saved["scanned_at"]) if saved else None
        except (KeyError, TypeError, ValueError):
            _LOGGER.warning(f"{self.name}: the saved id set in the state is unreadable; rebuilding it by a scan.")
            self._known, self._scanned_at = None, None
        self._cursor_field = str(getattr(getattr(self.cursor, "cursor_field", None), "cursor_field_key", "update_time"))
        self._observes = self._take_over_observe()

    def _take_over_observe(self) -> bool:
        """Let read_records do the cursor's per-record bookkeeping, once per partition instead of once per record.

        ConcurrentCursor.observe parses every record's cursor value (strptime) and hashes the record's slice twice
        (a json.dumps each): about a tenth of a read's CPU. Here records are compared as sortable strings and the
        highest is parsed and handed to the cursor when the partition's last record has been yielded, which is
        before the CDK closes the partition and writes its state. The instance attribute shadows the method for
        this stream's cursor only; a cursor without these internals keeps its own observe.
        """
        cursor = self.cursor
        needed = ("observe", "_most_recent_cursor_value_per_partition", "_connector_state_converter")
        if cursor is None or not all(hasattr(cursor, name) for name in needed):
            return False
        cursor.observe = _observed_by_retriever
        return True

    def _observe_once(self, highest: Any, descending: bool, missing: bool, stream_slice: StreamSlice) -> None:
        """What ConcurrentCursor.observe would have left after seeing every record of the partition."""
        cursor = self.cursor
        if descending:
            cursor._is_ascending_order = False
        if highest is not None:
            try:
                value = cursor._connector_state_converter.parse_value(highest)
            except ValueError:
                missing = True
            else:
                latest = cursor._most_recent_cursor_value_per_partition.get(stream_slice)
                if latest is None or latest < value:
                    cursor._most_recent_cursor_value_per_partition[stream_slice] = value
        if missing and hasattr(cursor, "_log_for_record_without_cursor_value"):
            cursor._log_for_record_without_cursor_value()

    def _state(self) -> MutableMapping[str, Any]:
        concurrent_state = getattr(self.cursor, "_concurrent_state", None)
        if not isinstance(concurrent_state, dict):
            raise RuntimeError(f"{self.name}: this airbyte-cdk keeps cursor state where deletion scans cannot find it")
        return concurrent_state.setdefault("legacy", {})

    def _interval(self) -> datetime.timedelta:
        hours = self.config.get("deletion_scan_interval_hours")
        return datetime.timedelta(hours=24 if hours is None else float(hours))

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        stream_slice = stream_slice or StreamSlice(partition={}, cursor_slice={})
        if not self._observes:
            yield from self._read(records_schema, stream_slice)
            return
        field_name, highest, highest_key = self._cursor_field, None, ""
        descending = missing = False
        for item in self._read(records_schema, stream_slice):
            if isinstance(item, Mapping):  # records and deletions; checkpoint STATE messages are not observed
                value = item.get(field_name)
                if value is None:
                    missing = True
                else:
                    key = _sortable(value)
                    if key > highest_key:
                        highest, highest_key = value, key
                    elif key < highest_key:
                        descending = True
            yield item
        self._observe_once(highest, descending, missing, stream_slice)

    def _read(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Iterable[Any]:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        seen: set = set()
        if not self.detect_deletions:
            yield from self._read_checkpointed(records_schema, stream_slice, None)
            return
        if self.client_side_filter:
            for record in self.retriever.read_records(records_schema, stream_slice):
                seen.add(record["id"])
                if self.cursor is None or self.cursor.should_be_synced(self._as_record(record, stream_slice)):
                    yield record
            gone = self._known - seen if self._known is not None else set()
            yield from self._deletions(gone, now)
            self._save(seen, now)
            return

        full_read = str(stream_slice.cursor_slice.get(self.slice_start_field) or "") <= self.scan_start
        if full_read or (self._known is not None and self._scanned_at and now - self._scanned_at < self._interval()):
            yield from self._read_checkpointed(records_schema, stream_slice, seen)
            if full_read:
                candidates = self._known - seen if self._known else set()
                gone = self._confirmed_gone(set(candidates), records_schema, stream_slice)
                yield from self._deletions(gone, now)
                self._save(seen | (candidates - gone), now)
            else:
                self._save(self._known | seen, self._scanned_at)
            return

        _LOGGER.info(f"{self.name}: scanning every id for deleted records (deletion_scan_interval_hours).")
        listed: set = set()
        window_start = _sortable(stream_slice.cursor_slice.get(self.slice_start_field))
        for record in self.retriever.read_records(records_schema, self._scan_slice(stream_slice)):
            listed.add(record["id"])
            if self._known is not None and record["id"] not in self._known and \
                    _sortable(record.get(self._cursor_field)) < window_start:
                yield self._as_record(record, stream_slice)  # restored or un-archived: older than the state
        if self._known is not None:
            self._known |= listed  # a checkpoint from here on must not forget what the scan emitted
        yield from self._read_checkpointed(records_schema, stream_slice, seen)
        gone: set = set()
        if self._known is not None:
            candidates = self._known - listed - seen
            gone = self._confirmed_gone(set(candidates), records_schema, stream_slice)
            listed |= candidates - gone  # missed by the listing, yet alive
            yield from self._deletions(gone, now)
        self._save(listed | seen, now)

    def _read_checkpointed(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice,
                           seen: Optional[set]) -> Iterable[Any]:
        highest, count = "", 0
        for record in self.retriever.read_records(records_schema, stream_slice):
            if seen is not None:
                seen.add(record["id"])
            value = _sortable(record.get(self._cursor_field))
            if value > highest:
                highest = value
            yield record
            count += 1
            if count % self.checkpoint_every_records == 0 and highest:
                yield self._checkpoint(highest, seen)

    def _checkpoint(self, highest: str, seen: Optional[set]) -> AirbyteMessage:
        """The state a sync killed now should restart from: the stream's saved state with the cursor moved to the
        highest update_time read (inclusive restart, so its second is read again) and, when deletes are tracked,
        the ids emitted so far added to the set."""
        state = dict(self._state())
        state[self._cursor_field] = highest + "Z"
        if seen is not None and self._known is not None:
            state[DELETIONS_STATE_KEY] = {**(state.get(DELETIONS_STATE_KEY) or {}),
                                          "ids": encode_ids(self._known | seen)}
        elif seen is not None:  # first sync: no set before this one
            state[DELETIONS_STATE_KEY] = {"ids": encode_ids(seen), "scanned_at": None}
        return AirbyteMessage(type=MessageType.STATE, state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=self.name),
                                      stream_state=AirbyteStateBlob(state))))

    def _scan_slice(self, stream_slice: StreamSlice) -> StreamSlice:
        return StreamSlice(partition=stream_slice.partition,
                           cursor_slice={**stream_slice.cursor_slice, self.slice_start_field: self.scan_start},
                           extra_fields=stream_slice.extra_fields)

    def _confirmed_gone(self, candidates: set, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> set:
        if not candidates:
            return candidates
        if self.verify_requester is not None:
            ordered = sorted(candidates)
            for i in range(0, len(ordered), 100):
                batch = ",".join(str(x) for x in ordered[i:i + 100])
                response = self.verify_requester.send_request(request_params={"ids": batch, "limit": 100})
                for item in (parsed_body(response).get("data") or []) if response is not None else []:
                    if not item.get("is_deleted"):
                        candidates.discard(item.get("id"))
            return candidates
        for record in self.retriever.read_records(records_schema, self._scan_slice(stream_slice)):
            candidates.discard(record["id"])
        return candidates

    def _deletions(self, gone: set, now: datetime.datetime) -> Iterable[Mapping[str, Any]]:
        if gone:
            _LOGGER.info(f"{self.name}: {len(gone)} record(s) deleted in Pipedrive since the last scan.")
        stamp, deleted_at = now.strftime(self.record_time_format), now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for record_id in sorted(gone):
            yield {"id": record_id, "is_deleted": True, self._cursor_field: stamp, "_ab_cdc_deleted_at": deleted_at}

    def _save(self, ids: set, scanned_at: Optional[datetime.datetime]) -> None:
        self._known, self._scanned_at = ids, scanned_at
        self._state()[DELETIONS_STATE_KEY] = {
            "ids": encode_ids(ids),
            "scanned_at": scanned_at.strftime("%Y-%m-%dT%H:%M:%SZ") if scanned_at else None,
        }

    def _as_record(self, record: Mapping[str, Any], stream_slice: StreamSlice) -> Record:
        data = record.data if isinstance(record, Record) else record
        return Record(data=data, stream_name=self.name, associated_slice=stream_slice)


def _observed_by_retriever(record: Any) -> None:
    """ConcurrentCursor.observe for streams read by a TrackingRetriever: see TrackingRetriever._take_over_observe."""


def _sortable(value: Any) -> str:
    """RFC 3339 and "YYYY-MM-DD HH:MM:SS" timestamps, comparable as strings to the second."""
    return str(value or "")[:19].replace(" ", "T")


def _parse_utc(value: Any) -> Optional[datetime.datetime]:
    if not value:
        return None
    return datetime.datetime.strptime(_sortable(value), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
