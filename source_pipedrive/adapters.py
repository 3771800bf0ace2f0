"""Every airbyte-cdk internal this connector relies on (and one of requests), in one place, each checked before use.

Each function returns None when the CDK no longer has the shape it expects: the caller then falls back to the CDK's
own behaviour (slower, or without the feature) and a warning names what was lost. unit_tests/test_adapters.py fails
when a CDK release changes any of them; docs/CONTRIBUTING.md says how to move the airbyte-cdk pin.
"""

import contextlib
import logging
import queue
from typing import Any, Callable, MutableMapping, Optional

import requests

_LOGGER = logging.getLogger("airbyte")


def skip_attribute_docs() -> bool:
    """Keeps serpyco_rs from reading the source code of every dataclass airbyte-cdk builds a serializer for.

    serpyco_rs collects attribute docstrings (inspect.getsource and an AST walk per class) for the JSON schemas it can
    generate; airbyte-cdk builds its message serializers when imported and never asks for those schemas. That is
    over a second of every start (spec, check, discover, read) on these machines, for nothing the connector uses.
    Must run before airbyte_cdk is imported. (serpyco_rs._describe and ._json_schema._convert.get_attributes_doc,
    serpyco-rs 1.x.)
    """
    try:
        from serpyco_rs import _describe
        from serpyco_rs._json_schema import _convert
    except ImportError:
        return False
    modules = (_describe, _convert)
    if not all(callable(getattr(module, "get_attributes_doc", None)) for module in modules):
        _LOGGER.warning("This serpyco-rs has no get_attributes_doc; start-up reads the CDK's source code (slower).")
        return False
    for module in modules:
        module.get_attributes_doc = _no_attribute_docs
    return True


def _no_attribute_docs(cls: Any) -> dict:
    return {}


def cursor_state_extras(cursor: Any) -> Optional[MutableMapping[str, Any]]:
    """The part of a ConcurrentCursor's state that the CDK carries from one sync's state to the next unchanged.

    Deletion scans keep the ids a stream has emitted there: keys the CDK's cursor does not own travel in its
    "legacy" dict, and no public method adds one. (ConcurrentCursor._concurrent_state["legacy"], CDK 7.39.)
    """
    state = getattr(cursor, "_concurrent_state", None)
    if isinstance(state, dict) and isinstance(state.setdefault("legacy", {}), dict):
        return state["legacy"]
    _LOGGER.warning(f"This airbyte-cdk keeps cursor state where {type(cursor).__name__} extras cannot be stored.")
    return None


def take_over_observe(cursor: Any) -> Optional[Callable[[Any, str], None]]:
    """Makes the cursor's per-record observe a no-op and returns the function that gives it a partition's highest
    cursor value once, before the CDK closes the partition.

    ConcurrentCursor.observe parses every record's cursor value (strptime) and hashes the record's slice twice (a
    json.dumps each): ~24 µs a record, about a fifth of a full read's CPU, for one value per partition.
    (ConcurrentCursor._most_recent_cursor_value_per_partition and ._connector_state_converter, CDK 7.39.)
    """
    highest_by_slice = getattr(cursor, "_most_recent_cursor_value_per_partition", None)
    parse = getattr(getattr(cursor, "_connector_state_converter", None), "parse_value", None)
    if not isinstance(highest_by_slice, dict) or not callable(parse) or not callable(getattr(cursor, "observe", None)):
        _LOGGER.warning("This airbyte-cdk's cursor cannot be observed once per partition; observing every record.")
        return None

    def observe_highest(stream_slice: Any, highest: str) -> None:
        value = parse(highest)
        latest = highest_by_slice.get(stream_slice)
        if latest is None or latest < value:
            highest_by_slice[stream_slice] = value

    cursor.observe = _observed_per_partition
    return observe_highest


def _observed_per_partition(record: Any) -> None:
    """ConcurrentCursor.observe of a stream whose retriever reports each partition's highest value itself."""


def bound_record_queue(source: Any, size: int) -> bool:
    """Holds at most `size` records between the reading threads and the writer, instead of the CDK's 10,000.

    Records waiting there are memory (~3 kB each with custom fields) and the pages behind them are decoded into
    fresh heap: a full read with the CDK's queue peaks ~50 MB higher and spends more CPU. The queue is created
    inside ConcurrentDeclarativeSource.__init__ with no parameter; its bound is the public Queue.maxsize, set here
    while the queue is still empty. A worker blocked on a full queue cannot keep the process alive: run.py exits
    without waiting for it. (ConcurrentDeclarativeSource._concurrent_source._queue, CDK 7.39.)
    """
    record_queue = getattr(getattr(source, "_concurrent_source", None), "_queue", None)
    if not isinstance(record_queue, queue.Queue) or record_queue.maxsize <= 0 or not record_queue.empty():
        _LOGGER.warning("This airbyte-cdk's record queue cannot be bounded; using its own size (more memory).")
        return False
    with record_queue.mutex:
        record_queue.maxsize = size
    return True


def _body_kept_in_content() -> bool:
    probe = requests.Response()
    probe._content = b"{}"  # where requests keeps a body it has read
    if probe.content != b"{}":
        _LOGGER.warning("This requests release keeps response bodies elsewhere; pages stay in memory longer.")
        return False
    probe._content = b""
    return probe.content == b""


_RELEASES_BODIES = _body_kept_in_content()


def release_body(response: requests.Response) -> None:
    """Frees a page's raw bytes once its records are taken (the decoded records live on without them).

    The CDK keeps responses alive in reference cycles (its rate limiter, retries) until a full garbage collection:
    a full read peaked ~40 MB higher and ran slower with the pages' bytes kept. requests has no public way to drop
    a body it has read. (requests.Response._content, requests 2.x; checked once at import.)
    """
    if _RELEASES_BODIES:
        response._content = b""


def response_with_body(status: int, headers: Any, body: bytes, url: str) -> Optional[requests.Response]:
    """A fresh response carrying a body read before (components.SharedPages hands one page to several streams).
    requests has no public way to build a response with a body. (requests.Response._content, checked at import.)"""
    if not _RELEASES_BODIES:
        return None
    response = requests.Response()
    response.status_code, response.url, response._content = status, url, body
    response.headers.update(headers)
    return response


def message_output() -> Any:
    """The CDK's buffered stdout for Airbyte messages (airbyte_cdk.logger.PRINT_BUFFER, which the CDK's own logger
    writes to), entered around a run so that records, states and logs share one buffer; stdout as it is otherwise."""
    try:
        from airbyte_cdk.logger import PRINT_BUFFER
    except ImportError:
        _LOGGER.warning("This airbyte-cdk has no PRINT_BUFFER; writing messages to stdout unbuffered.")
        return contextlib.nullcontext()
    return PRINT_BUFFER


MANIFEST_CACHE_ENTRIES = 16  # processed manifests kept (one per catalog a machine runs)


def cache_processed_manifest(source_class: Any) -> bool:
    """Makes `source_class` keep the manifest the CDK resolved, propagated and validated in a file, and use that file
    on the next start with the same manifest (the same streams and sync modes) and the same airbyte-cdk.

    Resolving the `$ref`s and propagating types and `$parameters` through every node, then validating the result
    against the CDK's schema, is pure computation on the manifest and half of a read's start-up on these machines
    (several seconds for every stream). The file lives in the package's folder, or the temporary folder where that is
    read-only; it is written only after the CDK validated its content, and any trouble reading it means computing
    again. (ConcurrentDeclarativeSource._pre_process_manifest and ._validate_source, CDK 7.39.)
    """
    try:
        from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
    except ImportError:
        return False
    names = ("_pre_process_manifest", "_validate_source")
    if not all(callable(getattr(ConcurrentDeclarativeSource, name, None)) for name in names):
        _LOGGER.warning("This airbyte-cdk processes manifests elsewhere; start-up processes the manifest every time.")
        return False
    pre_process, validate = ConcurrentDeclarativeSource._pre_process_manifest, ConcurrentDeclarativeSource._validate_source

    def _pre_process_manifest(self: Any, manifest: Any) -> Any:
        key = _manifest_key(manifest)
        cached = _read_manifest(key) if key else None
        self.__dict__["_pipedrive_manifest"] = (key, cached is not None)
        return cached if cached is not None else pre_process(self, manifest)

    def _validate_source(self: Any) -> None:
        key, cached = self.__dict__.get("_pipedrive_manifest", (None, False))
        if cached:
            return  # validated when it was written
        validate(self)
        if key:
            _write_manifest(key, getattr(self, "_source_config", None))

    source_class._pre_process_manifest = _pre_process_manifest
    source_class._validate_source = _validate_source
    return True


def _manifest_key(manifest: Any) -> Optional[str]:
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import orjson

    try:
        text = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS) + version("airbyte-cdk").encode()
    except (TypeError, PackageNotFoundError):
        return None
    return hashlib.sha256(text).hexdigest()[:32]


def _manifest_folders() -> list:
    import pathlib
    import tempfile

    return [pathlib.Path(__file__).parent / "__manifest_cache__",
            pathlib.Path(tempfile.gettempdir()) / "source-pipedrive-manifest-cache"]


def _read_manifest(key: str) -> Any:
    import orjson

    for folder in _manifest_folders():
        try:
            return orjson.loads((folder / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            continue
    return None


def _write_manifest(key: str, manifest: Any) -> None:
    import os

    import orjson

    try:
        data = orjson.dumps(manifest)
    except TypeError:
        return
    for folder in _manifest_folders():
        try:
            folder.mkdir(exist_ok=True)
            partial = folder / f".{key}.{os.getpid()}.part"
            partial.write_bytes(data)
            os.replace(partial, folder / f"{key}.json")  # atomic: a concurrent reader sees all of it or nothing
            for old in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-MANIFEST_CACHE_ENTRIES]:
                old.unlink(missing_ok=True)
            return
        except OSError:
            continue
