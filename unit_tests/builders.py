"""Named builders for configs, catalogs, state and Pipedrive envelopes used by the unit tests."""

from typing import Any, Dict, List, Mapping, Optional

from airbyte_cdk.models import (
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.test import entrypoint_wrapper

from source_pipedrive import SourcePipedrive

API = "https://api.pipedrive.com"
TOKEN = "unit-test-token-7f3a9c"


def config(**overrides: Any) -> Dict[str, Any]:
    base = {"credentials": {"auth_type": "api_token", "api_token": TOKEN}}
    base.update(overrides)
    return base


def catalog(*streams: str, sync_mode: SyncMode = SyncMode.full_refresh) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalogSerializer.load(
        {
            "streams": [
                {
                    "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                    "sync_mode": sync_mode.value,
                    "destination_sync_mode": "append",
                }
                for name in streams
            ]
        }
    )


def stream_state(stream: str, value: Mapping[str, Any]) -> List[AirbyteStateMessage]:
    return [
        AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(**value)
            ),
        )
    ]


def read(cfg: Mapping[str, Any], streams: List[str], sync_mode=SyncMode.full_refresh, state=None, expect_errors=False):
    """Read in-process; unless told otherwise, a sync that reports an error fails the test."""
    cat = catalog(*streams, sync_mode=sync_mode)
    source = SourcePipedrive(catalog=cat, config=cfg, state=state)
    output = entrypoint_wrapper.read(source, cfg, cat, state, expecting_exception=expect_errors)
    if not expect_errors:
        assert not output.errors, output.get_formatted_error_message()
    return output


def v2_page(records: List[Mapping[str, Any]], next_cursor: Optional[str] = None) -> Dict[str, Any]:
    return {"success": True, "data": list(records), "additional_data": {"next_cursor": next_cursor}}


def v1_page(records, start: int = 0, limit: int = 500, more: bool = False) -> Dict[str, Any]:
    pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return {"success": True, "data": list(records) or None, "additional_data": {"pagination": pagination}}


def pipedrive_error(status: int, error: str, error_info: str = "Please check developers.pipedrive.com") -> Dict[str, Any]:
    return {"success": False, "error": error, "errorCode": status, "error_info": error_info, "data": None,
            "additional_data": None}


def deal(id: int, update_time: str, **fields: Any) -> Dict[str, Any]:
    return {"id": id, "title": f"Deal {id}", "update_time": update_time, "add_time": "2020-01-01T00:00:00Z",
            "custom_fields": {}, **fields}


FIELDS_ENDPOINTS = ("dealFields", "personFields", "organizationFields", "productFields", "activityFields")


def mock_no_custom_fields(http) -> None:
    """An account without custom fields: every v2 *Fields list is empty. Its deal summaries (which a deal stream not
    yet read to its end asks for, for the platform's progress estimate) count 3 deals."""
    for endpoint in FIELDS_ENDPOINTS:
        http.get(f"{API}/api/v2/{endpoint}", json=v2_page([]))
    for path in ("deals/summary", "deals/summary/archived"):
        http.get(f"{API}/v1/{path}", json={"success": True, "data": {"total_count": 3}})


def data_requests(http):
    """The requests a mocker saw, without the field-definition reads that precede a stream with custom fields and
    the deal summaries of a first sync's estimate."""
    return [r for r in http.request_history if not r.path.lower().endswith(("fields", "summary", "summary/archived"))]
