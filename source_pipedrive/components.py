"""CDK adapters for what the manifest cannot say in YAML. The Pipedrive semantics live in custom_fields.py."""

import random
import threading
from dataclasses import InitVar, dataclass, field
from typing import Any, Iterable, Mapping, MutableMapping, Optional, Union

import orjson
import requests

from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from source_pipedrive.custom_fields import CustomFieldMap


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

    AddFields with a condition renders two Jinja templates per record (36 µs); this is a dict lookup.
    Used by the deal streams' transformations.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config = field(default_factory=dict)

    def transform(self, record: MutableMapping[str, Any], config: Optional[Config] = None,
                  stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None) -> None:
        if record.get("is_deleted"):
            record["_ab_cdc_deleted_at"] = record.get("update_time")


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


@dataclass
class _FieldMapSource:
    """Reads an entity's *Fields list once through a requester declared in YAML and builds its CustomFieldMap."""

    fields_requester: Requester
    base_schema_loader: SchemaLoader
    naming: str
    _map: Optional[CustomFieldMap] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> CustomFieldMap:
        with self._lock:  # partitions of one stream flatten records on several threads
            if self._map is None:
                fields = list(_read_v2_list(self.fields_requester))
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
        self._fields = _FieldMapSource(self.fields_requester, self.base_schema_loader, _naming(self.config))

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
        self._fields = _FieldMapSource(self.fields_requester, self.base_schema_loader, _naming(self.config))

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
