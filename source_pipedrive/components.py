"""The CDK components the manifest names where YAML cannot say what is needed. Pipedrive semantics of custom fields
live in custom_fields.py; the daily budget in sync.py; incremental reads that save their place in tracking.py."""

import datetime
import itertools
import logging
import random
import re
import time
from dataclasses import InitVar, dataclass, field
from typing import Any, Generator, Iterable, List, Mapping, MutableMapping, Optional, Union

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.type_transformer import TypeTransformer
from airbyte_cdk.sources.declarative.partition_routers.partition_router import PartitionRouter
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from source_pipedrive import adapters
from source_pipedrive.budget import parse_time, utc_now
from source_pipedrive.custom_fields import CustomFieldMap
from source_pipedrive.sync import Sync, token_cost

_LOGGER = logging.getLogger("airbyte")
_PARSED = "_pipedrive_body"  # where a response keeps its body once decoded, for the extractor and the paginator
SHARED_PARENT_LIST_SIZE = 1_000  # parent lists up to this long are read once per sync for all their child streams
SETTLED_SECONDS = 600  # an update_time this much older than a read, allowing for clock skew, gets no more records
_V1_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
DEFAULT_REFRESH_HOURS = 24.0  # the spec's default for reference_refresh_hours
# While the budget holds back a sync (the last run stopped for it), reference data already read waits up to a week for
# its refresh, and deletion scans as long: done daily, they would spend on a small budget what the unfinished streams
# need, and stretch the sync.
BACKLOG_REFRESH_HOURS = 168.0


def interval_hours(configured: Any, default: float) -> float:
    """An interval option (reference_refresh_hours, deletion_scan_interval_hours) as this sync applies it: stretched
    to BACKLOG_REFRESH_HOURS while the last run stopped for the budget."""
    hours = default if configured is None else float(configured)
    return max(hours, BACKLOG_REFRESH_HOURS) if Sync.current().ledger.budget.stopped_at is not None else hours


def parsed_body(response: requests.Response) -> Any:
    """The decoded JSON body, decoded once per response (orjson) and shared by error handler, extractor, paginator."""
    body = getattr(response, _PARSED, None)
    if body is None:
        body = orjson.loads(response.content)
        setattr(response, _PARSED, body)
    return body


@dataclass
class LegacyCredentialsMigration(ConfigTransformation):
    """Moves the credentials of Airbyte's older Pipedrive connectors into today's `credentials` one-of.

    2.x kept `api_token` at the root; 0.1.x kept `authorization` with auth_type Token or Client. ConfigRemapField
    cannot build one object from another's fields conditionally. Used by spec.config_normalization_rules; the CDK
    then writes the config back and announces it with a CONTROL message, so the platform stores the new shape once.
    """

    def transform(self, config: MutableMapping[str, Any]) -> None:
        if "credentials" in config:
            return
        legacy = config.pop("authorization", None)
        if isinstance(legacy, dict) and legacy.get("auth_type") == "Client":
            keys = ("client_id", "client_secret", "refresh_token", "access_token", "token_expiry_date")
            config["credentials"] = {"auth_type": "oauth2.0", **{k: legacy[k] for k in keys if legacy.get(k) is not None}}
        elif isinstance(legacy, dict) and "api_token" in legacy:
            config["credentials"] = {"auth_type": "api_token", "api_token": legacy["api_token"]}
        elif "api_token" in config:
            config["credentials"] = {"auth_type": "api_token", "api_token": config.pop("api_token")}
        elif legacy is not None:
            config["authorization"] = legacy  # unknown shape: leave it for spec validation to name


@dataclass
class BudgetGate(DeclarativeAuthenticator):
    """The credentials (`inner`) every request is signed with, refusing to sign once the daily budget stopped the sync.

    Pipedrive blocks API tokens that keep calling after their budget is spent (pipedrive-api.md §6.3). Every request
    of every stream, its retries included, passes here before it is sent, so none gets out. Used as
    definitions.authenticator.
    """

    inner: DeclarativeAuthenticator
    config: Config = field(default_factory=dict)
    parameters: InitVar[Mapping[str, Any]] = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        Sync.current().check_open()
        return self.inner(request)

    def get_auth_header(self) -> Mapping[str, Any]:
        Sync.current().check_open()
        return self.inner.get_auth_header()

    @property
    def auth_header(self) -> str:
        return self.inner.auth_header

    @property
    def token(self) -> str:
        return self.inner.token

    def get_request_params(self) -> Mapping[str, Any]:
        return self.inner.get_request_params()


@dataclass
class SharedPages(Requester):
    """A list several streams of one sync read (a stream and the parent list of its children: mail threads, projects,
    users, roles …): each page is requested once and its answer handed to every stream that asks for the same URL
    and parameters. Only successful pages are kept, for this sync only. Used by definitions.shared_requester.
    """

    inner: Requester
    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def send_request(self, stream_state: Any = None, stream_slice: Any = None, next_page_token: Any = None,
                     path: Any = None, request_headers: Any = None, request_params: Any = None,
                     request_body_data: Any = None, request_body_json: Any = None, log_formatter: Any = None) -> Any:
        params = {**self.inner.get_request_params(stream_state=stream_state, stream_slice=stream_slice,
                                                  next_page_token=next_page_token), **(request_params or {})}
        url = path or self.inner.get_url(stream_slice=stream_slice, next_page_token=next_page_token)
        key = ("page", url, tuple(sorted((k, str(v)) for k, v in params.items())))
        sync = Sync.current()
        with sync.lock_for(key):
            kept = sync.pages.get(key)
            if kept is not None:
                shared = adapters.response_with_body(*kept)
                if shared is not None:
                    return shared
            response = self.inner.send_request(
                stream_state=stream_state, stream_slice=stream_slice, next_page_token=next_page_token, path=path,
                request_headers=request_headers, request_params=request_params, request_body_data=request_body_data,
                request_body_json=request_body_json, log_formatter=log_formatter)
            if response is not None and 200 <= response.status_code < 300 and response.content:
                sync.pages[key] = (response.status_code, dict(response.headers), response.content, response.url)
            return response

    def get_authenticator(self) -> Any:
        return self.inner.get_authenticator()

    def get_url(self, **kwargs: Any) -> str:
        return self.inner.get_url(**kwargs)

    def get_url_base(self, **kwargs: Any) -> str:
        return self.inner.get_url_base(**kwargs)

    def get_path(self, **kwargs: Any) -> str:
        return self.inner.get_path(**kwargs)

    def get_method(self) -> Any:
        return self.inner.get_method()

    def get_request_params(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.inner.get_request_params(**kwargs)

    def get_request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.inner.get_request_headers(**kwargs)

    def get_request_body_data(self, **kwargs: Any) -> Any:
        return self.inner.get_request_body_data(**kwargs)

    def get_request_body_json(self, **kwargs: Any) -> Any:
        return self.inner.get_request_body_json(**kwargs)


@dataclass
class RecordsAtPath(RecordExtractor):
    """The records under a fixed key path of a Pipedrive response (`data`, or `data.goals`), decoded with orjson.

    DpathExtractor walks every node of a 500-record page to fetch one key and decodes with the json module: about
    half the CPU of a read. A list yields its items, an object itself, null nothing (v1 lists answer `data: null`
    when empty). Used by definitions.data_selector and the goals stream.
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
    """The CDK's JsonDecoder, reusing the body the error handler decoded instead of decoding every page again.

    The paginator reads a page last, after its records, so the page is then dropped from the response: under the
    burst limit the CDK's rate limiter keeps waiting requests (and their responses) alive in reference cycles.
    Subclassing JsonDecoder keeps the CDK's check that a paginator's decoder is JSON. Used as
    definitions.json_decoder by every SimpleRetriever.
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
        response.__dict__.pop(_PARSED, None)
        adapters.release_body(response)
        if isinstance(body, list):
            yield from body or [{}]
        else:
            yield body


@dataclass
class RateLimitAwareBackoff(BackoffStrategy):
    """Waits as long as Pipedrive says on a 429, else backs off exponentially with jitter.

    Pipedrive sends x-ratelimit-reset (seconds until its 2-second window frees) on every response, so the CDK's
    WaitTimeFromHeader would also apply it to 5xx and timeouts and retry those at once. Jitter keeps the workers of
    one sync from retrying in lockstep. Used by definitions.response_error_handler.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)
    base_seconds: float = 2.0
    max_seconds: float = 60.0

    def backoff_time(self, response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
                     attempt_count: int) -> Optional[float]:
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            for header in ("Retry-After", "x-ratelimit-reset"):
                try:
                    return min(max(float(response_or_exception.headers[header]), 0.5), self.max_seconds)
                except (KeyError, TypeError, ValueError):
                    continue
        exponential = self.base_seconds * 2 ** max(attempt_count - 1, 0)
        return min(exponential, self.max_seconds) * random.uniform(0.75, 1.25)


@dataclass
class PipedriveErrorHandler(ErrorHandler):
    """Charges every response to its stream's API cost and the daily budget, then answers what the manifest's
    DefaultErrorHandler (`inner`) handles badly, deferring the rest to it.

    - The daily budget (sync.Sync.account): a 429 saying no tokens are left stops the sync (BudgetSpent).
    - A successful page: the CDK would decode the body with the json module once per predicate filter (four times a
      page). A 2xx whose body decodes to an object succeeds here after one orjson decode, which the extractor
      reuses; one cut short is retried.
    - A host name that does not resolve (a mistyped api_domain): the CDK would retry it for minutes; here it fails
      at once with a sentence. A CompositeErrorHandler cannot: a later handler's RETRY wins over an earlier FAIL.
    Used as definitions.base_error_handler and child_error_handler.
    """

    parameters: InitVar[Mapping[str, Any]]
    inner: ErrorHandler
    config: Config = field(default_factory=dict)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream = parameters.get("name", "")

    @property
    def max_retries(self) -> Optional[int]:
        return self.inner.max_retries

    @property
    def max_time(self) -> Optional[int]:
        return self.inner.max_time

    def interpret_response(self, response_or_exception: Any) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            Sync.current().account(self.stream, response_or_exception)
            if 200 <= response_or_exception.status_code < 300 and \
                    "json" in response_or_exception.headers.get("content-type", "application/json"):
                try:
                    if isinstance(parsed_body(response_or_exception), dict):
                        return ErrorResolution(response_action=ResponseAction.SUCCESS)
                except orjson.JSONDecodeError:
                    return ErrorResolution(response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error,
                                           error_message="Pipedrive sent a response that is not valid JSON (cut short?); retrying.")
        elif isinstance(response_or_exception, requests.exceptions.ConnectionError) and any(
            marker in repr(response_or_exception)
            for marker in ("NameResolutionError", "Name or service not known", "getaddrinfo failed")
        ):
            request = getattr(response_or_exception, "request", None)
            url = request.url if request is not None else self.config.get("api_domain") or ""
            host = requests.utils.urlparse(url).hostname or "of the API"
            return ErrorResolution(response_action=ResponseAction.FAIL, failure_type=FailureType.config_error,
                                   error_message=f"Could not reach Pipedrive: the host name {host} does not resolve. "
                                   "Check api_domain (https://api.pipedrive.com or https://<company>.pipedrive.com).")
        return self.inner.interpret_response(response_or_exception)


@dataclass
class ParentsInOrder(PartitionRouter):
    """A child stream's parents, visited in ascending update_time, reporting how far the visit got as parent state.

    The CDK's SubstreamPartitionRouter reports a parent list's state only once the whole list is read, so a child
    stream the daily budget stops half-way would visit every parent again next time, and one that costs more than a
    day's budget would never finish. Here each parent list (`parents`: one SubstreamPartitionRouter each, read in
    order) hands out its parents in ascending `cursor_field`, and the state given for the list being read is the
    cursor of the last parent handed out: the CDK's per-partition cursor saves it once every earlier parent's children
    are read, so the next sync starts at the first parent not done. Lists the API cannot sort are read whole and
    sorted here (`sort`). A parent whose `skip_when_zero` count (reported by the parent list for exactly what the
    child lists) is 0 is not visited. Sibling child streams reading the same short list in one sync share one read.
    A list read to its end saves a cursor one second past its newest parent when that second ended well before the
    read: no parent can still get that update_time, so the next sync does not visit it again. Used by
    definitions.parents.*.
    """

    parents: List[PartitionRouter]
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor_field: str = "update_time"
    skip_when_zero: Optional[str] = None
    sort: bool = False
    changes_item: Optional[str] = None  # the parents' /v1/recents item type: no change, no parent visited
    changes_requester: Optional[Requester] = None
    refresh: bool = False  # parents Pipedrive reports no changes of: visited at most every reference_refresh_hours
    per_request: int = 1  # parents one child request covers (the batch endpoints: 100 deals)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream = parameters.get("name", "")
        self._api_path = parameters.get("api_path", "")
        self.incremental = parameters.get("sync_mode", "incremental") == "incremental"
        self._names = [[c.stream.name for c in router.parent_stream_configs if c.incremental_dependency]
                       for router in self.parents]
        self._initial = [dict(router.get_stream_state() or {}) for router in self.parents]
        self._final: List[Optional[Mapping[str, Any]]] = [None] * len(self.parents)
        self._active, self._progress = 0, None

    def stream_slices(self) -> Iterable[StreamSlice]:
        if not self._visits():
            self._final, self._active = [dict(state) for state in self._initial], len(self.parents)
            return
        sync = Sync.current()
        for index, router in enumerate(self.parents):
            self._active, self._progress = index, None
            for stream_slice in self._parent_list(index, router):
                if sync.stop_reason:  # the budget stopped the sync: each parent handed out now would only fail
                    sync.budget_stopped.add(self.stream)  # unfinished, even when no parent was handed out
                    return
                self._progress = stream_slice.extra_fields.get(self.cursor_field) or self._progress
                if self.skip_when_zero is None or stream_slice.extra_fields.get(self.skip_when_zero) != 0:
                    yield stream_slice
        self._active = len(self.parents)

    def _visits(self) -> bool:
        """Whether this sync visits any parent: not when Pipedrive reports no change of them since the child's last
        sync (changes.py), nor, for reference parents, before their refresh is due."""
        sync = Sync.current()
        if self.refresh:
            return read_whole_now(self.stream, self.config, self.incremental)
        if self.changes_item and self.changes_requester is not None and self.incremental:
            if sync.changes.since_last_check(self.stream, self.changes_item, self.changes_requester) == {}:
                sync.skip(self.stream, "unchanged")
                return False
            return True
        sync.changes.reading(self.stream)
        return True

    def _parent_list(self, index: int, router: PartitionRouter) -> Iterable[StreamSlice]:
        if not self._names[index]:  # read whole every sync, no state to share by
            yield from router.stream_slices()
            return
        sync, key = Sync.current(), (tuple(self._names[index]), orjson.dumps(self._initial[index]))
        started, rest = time.time(), iter(())
        with sync.lock_for(key):  # a sibling reading the same list waits for its first pages, then shares them
            if key in sync.parent_lists:
                head, self._final[index] = sync.parent_lists[key]
            else:
                slices = iter(router.stream_slices())
                if self.sort:
                    slices = iter(sorted(slices, key=lambda s: str(s.extra_fields.get(self.cursor_field) or "")))
                head = list(itertools.islice(slices, SHARED_PARENT_LIST_SIZE + 1))
                if len(head) <= SHARED_PARENT_LIST_SIZE:
                    self._final[index] = self._settled(router, started)
                    sync.parent_lists[key] = (head, self._final[index])
                else:
                    rest = slices
        self._plan(head, exact=len(head) <= SHARED_PARENT_LIST_SIZE)
        yield from head
        yield from rest
        if self._final[index] is None:
            self._final[index] = self._settled(router, started)

    def _plan(self, head: List[StreamSlice], exact: bool) -> None:
        """Tells the sync how many parents this stream will visit and, where the parent list counts exactly what the
        child lists, how many records that makes: an ESTIMATE for the platform, and (with the requests the stream has
        sent) the work a budget stop leaves."""
        visits = [s for s in head if self.skip_when_zero is None or s.extra_fields.get(self.skip_when_zero) != 0]
        rows = sum(int(s.extra_fields.get(self.skip_when_zero) or 0) for s in visits) if self.skip_when_zero else None
        requests_ = -(-len(visits) // max(1, int(self.per_request)))
        path = "/" + str(self._api_path).replace("{id}", "1")
        Sync.current().plan_visits(self.stream, requests_, rows, token_cost(path), exact)

    def _settled(self, router: PartitionRouter, read_at: float) -> Mapping[str, Any]:
        return {name: _past_second(cursor, self.cursor_field, read_at)
                for name, cursor in (router.get_stream_state() or {}).items()}

    def get_stream_state(self) -> Optional[Mapping[str, StreamState]]:
        state: dict = {}
        for index in range(len(self.parents)):
            if index < self._active:
                state.update(self._final[index] or {})
            elif index == self._active and self._progress:
                state.update({name: {self.cursor_field: self._progress} for name in self._names[index]})
            else:
                state.update(self._initial[index])
        return state

    def get_request_params(self, **kwargs: Any) -> Mapping[str, Any]:
        return {k: v for router in self.parents for k, v in router.get_request_params(**kwargs).items()}

    def get_request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}

    def get_request_body_data(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}

    def get_request_body_json(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}


def _past_second(cursor: Mapping[str, Any], field_name: str, read_at: float) -> Mapping[str, Any]:
    """The cursor one second later when its second ended SETTLED_SECONDS before the read, else as it is."""
    try:
        value = datetime.datetime.strptime(str(cursor[field_name])[:19].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except (KeyError, TypeError, ValueError):
        return cursor
    value = value.replace(tzinfo=datetime.timezone.utc)
    if value.timestamp() + 1 + SETTLED_SECONDS > read_at:
        return cursor
    return {**cursor, field_name: (value + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def read_whole_now(stream: str, config: Config, incremental: bool) -> bool:
    """Whether a stream Pipedrive reports no changes of is read (whole) in this sync: always in full refresh, else
    when `reference_refresh_hours` have passed since it was last read. A stream read whole in incremental mode is
    compared with its last read at the end (source.py), and what vanished is emitted as deleted."""
    sync = Sync.current()
    if incremental:
        hours = config.get("reference_refresh_hours")
        hours = DEFAULT_REFRESH_HOURS if hours is None else float(hours)
        last = parse_time(sync.ledger.note(stream, "refreshed_at"))
        age = None if last is None else utc_now() - last
        if age is not None and age < datetime.timedelta(hours=interval_hours(hours, DEFAULT_REFRESH_HOURS)):
            sync.skip(stream, "not due" if age < datetime.timedelta(hours=hours) else "held back")
            return False
        sync.read_whole.add(stream)
    sync.ledger.hold(stream, refreshed_at=sync.started_at)
    return True


@dataclass
class ReadTime(RecordTransformation):
    """Writes `_ab_refreshed_at`, when this sync started, into each record: the cursor of streams whose records carry
    no time of their own (reference data, children read again with a changed parent), so that a deduplicating
    destination keeps the latest read. Used by definitions.read_time."""

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)

    def transform(self, record: MutableMapping[str, Any], config: Optional[Config] = None,
                  stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None) -> None:
        record["_ab_refreshed_at"] = Sync.current().started_at


@dataclass
class ParentId(RecordTransformation):
    """Writes the parent's id (the slice's parent_id) into a child record as `field`, never over the record's own data.

    AddFields renders a Jinja template per record and would overwrite a field the child already carries (user
    followers carry their own user_id). A record already holding a different value keeps it. Used by
    definitions.child_stream.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.field = parameters["parent_field"]
        self.as_string = parameters.get("parent_id_type") == "string"

    def transform(self, record: MutableMapping[str, Any], config: Optional[Config] = None,
                  stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None) -> None:
        parent_id = (stream_slice.partition if stream_slice else {}).get("parent_id")
        if parent_id is not None and record.get(self.field) is None:
            record[self.field] = str(parent_id) if self.as_string else int(parent_id)


@dataclass
class UtcTimestamps(TypeTransformer):
    """Writes v1's UTC timestamps ("2023-02-22 08:24:35") in the fields the stream's schema declares date-time, nested
    ones too, as RFC 3339 ("2023-02-22T08:24:35Z").

    Pipedrive's v1 times are UTC without a zone (pipedrive-api.md §4.1); strict destinations read date-time as RFC
    3339. A transformation does not see the schema, and changing any value that merely looks like a time would alter
    data (changelog values, text). Runs after the transformations, so a change's hash (_ab_change_key) stays what
    it was. Cursor values keep comparing: the cursor parses both forms. Used by definitions.v1_selector.
    """

    config: Config = field(default_factory=dict)
    parameters: InitVar[Mapping[str, Any]] = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._paths: dict = {}  # id(schema) -> (schema, its date-time paths)

    def transform(self, record: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
        cached = self._paths.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = self._paths[id(schema)] = (schema, tuple(_date_time_paths(schema)))
        for path in cached[1]:
            _to_rfc3339(record, path)


def _date_time_paths(schema: Mapping[str, Any], prefix: tuple = ()) -> Iterable[tuple]:
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("format") == "date-time":
            yield prefix + (name,)
        elif prop.get("properties"):
            yield from _date_time_paths(prop, prefix + (name,))
        elif (prop.get("items") or {}).get("properties"):
            yield from _date_time_paths(prop["items"], prefix + (name, None))


def _to_rfc3339(node: Any, path: tuple) -> None:
    for depth, key in enumerate(path):
        if key is None:  # every item of a list
            for item in node if isinstance(node, list) else ():
                _to_rfc3339(item, path[depth + 1:])
            return
        if not isinstance(node, dict) or key not in node:
            return
        if depth == len(path) - 1:
            value = node[key]
            if value.__class__ is str and len(value) == 19 and value[10] == " " and _V1_TIME.fullmatch(value):
                node[key] = value.replace(" ", "T") + "Z"
            return
        node = node[key]


@dataclass
class MarkDeleted(RecordTransformation):
    """Sets Airbyte's CDC `_ab_cdc_deleted_at` to the deletion time on a deleted record (Pipedrive stamps update_time
    with it), so deduplicating destinations drop or flag it.

    A record is deleted when `flag` equals `deleted_value`: deals and users say is_deleted=true, activity types
    active_flag=false (Pipedrive's DELETE only deactivates them). AddFields with a condition renders two templates per
    record. Used by the deal, user and activity type streams.
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


def _field_list(requester: Requester) -> list:
    """Every item of a v2 *Fields list, read once per sync (Sync.field_lists), following next_cursor.

    A SimpleRetriever cannot be nested in a custom component in CDK 7.39 (its required empty `transformations`
    argument is lost while $parameters propagate), so the few lines of paging are repeated here.
    """
    sync, url = Sync.current(), requester.get_url()
    with sync.lock:
        cached = sync.field_lists.get(url)
    if cached is not None:
        return cached
    items, params = [], {"limit": 500}
    while True:
        body = parsed_body(requester.send_request(request_params=params))
        items += body.get("data") or []
        next_cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not next_cursor:
            break
        params = {"limit": 500, "cursor": next_cursor}
    with sync.lock:
        sync.field_lists[url] = items
    return items


@dataclass
class CustomFieldsSchemaLoader(SchemaLoader):
    """The stream's documented schema (`base_schema_loader`) plus one typed column per custom field of the account.

    DynamicSchemaLoader maps one field to one property and cannot rename with the collision rules or add the
    `_currency`/`_until`/address sub-columns, so the columns come from custom_fields.CustomFieldMap. A read takes
    the schema its configured catalog carries (discovered the same way) and plans the columns for the stream's
    CustomFieldsFlattener only when a record arrives: a sync with nothing to read reads no field definitions.
    Used by definitions.custom_field_schema.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    base_schema_loader: SchemaLoader
    fields_requester: Requester

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream = parameters.get("name", "")

    def get_json_schema(self) -> Mapping[str, Any]:
        sync = Sync.current()
        with sync.lock:
            sync.field_map_plans[self.stream] = self._field_map
            configured = sync.schemas.get(self.stream)
        if configured and configured.get("properties"):
            return configured
        schema = dict(self.base_schema_loader.get_json_schema())
        schema["properties"] = {**schema["properties"], **sync.field_map(self.stream).schema_properties()}
        return schema

    def _field_map(self) -> CustomFieldMap:
        return CustomFieldMap.from_fields(
            _field_list(self.fields_requester), builtin_columns=self.base_schema_loader.get_json_schema()["properties"].keys(),
            naming="hash" if self.config.get("custom_field_names") == "hash" else "readable")


@dataclass
class CustomFieldsFlattener(RecordTransformation):
    """Replaces a record's custom fields (v2: the custom_fields object; v1: flat 40-hex keys) by the typed, labelled
    columns its stream's CustomFieldsSchemaLoader plans (reading the field definitions with the first record).
    Used by definitions.custom_field_columns.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    api_version: str = "v2"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream = parameters.get("name", "")
        self._map: Optional[CustomFieldMap] = None

    def transform(self, record: MutableMapping[str, Any], config: Optional[Config] = None,
                  stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None) -> None:
        field_map = self._map or Sync.current().field_map(self.stream)
        self._map = field_map
        (field_map.flatten_v1 if self.api_version == "v1" else field_map.flatten_v2)(record)
