"""Shared plumbing: JSON encoding, Pipedrive envelopes, timestamp formats, request/response objects."""
from __future__ import annotations

import base64
import calendar
import re
import time
from dataclasses import dataclass, field

try:  # orjson is ~10x faster; the stdlib fallback keeps the emulator dependency-free
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)

    def loads(data):
        return orjson.loads(data)

except ImportError:  # pragma: no cover - exercised only where orjson is missing
    import json

    def dumps(obj) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def loads(data):
        return json.loads(data)


# Pipedrive's standard hint in error envelopes (openapi v1 error examples).
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"
    records: int = 0  # data items in the body, for stats


def error_body(error: str, error_info: str = ERROR_INFO, **extra) -> bytes:
    body = {"success": False, "error": error, "error_info": error_info, "data": None, "additional_data": None}
    body.update(extra)
    return dumps(body)


class ApiError(Exception):
    """Raised by handlers; rendered with Pipedrive's error envelope (pipedrive-api.md §7)."""

    def __init__(self, status: int, error: str, error_info: str = ERROR_INFO, headers=None, **extra):
        super().__init__(error)
        self.status = status
        self.response = Response(status, error_body(error, error_info, **extra), dict(headers or {}))


def bad_request(message: str) -> ApiError:
    # v2 400 body is UNVERIFIED (§7): standard envelope plus a machine code (inferred)
    return ApiError(400, f"Validation failed: {message}", code="ERR_SCHEMA_VALIDATION_FAILED")


def not_found() -> ApiError:
    # openapi v2 404 example (getDealConversionStatus etc.)
    return ApiError(404, "Entity was not found", "Object was not found.")


def json_response(obj, status: int = 200) -> Response:
    return Response(status, dumps(obj))


@dataclass
class Request:
    method: str
    path: str
    query: dict  # name -> list of values, in arrival order
    headers: dict  # lower-cased names
    body: bytes = b""
    path_params: dict = field(default_factory=dict)
    principal: object = None
    template: str = ""

    def arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[-1] if values else default


# ---- timestamps -------------------------------------------------------------------------------------------
# Stored as integer epoch seconds (epoch ms for leads); rendered per API version (pipedrive-api.md §2.1, §4.1).

_DAYS: dict = {}


def _day(d: int) -> str:
    s = _DAYS.get(d)
    if s is None:
        s = _DAYS[d] = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
    return s


def v2_time(ts):
    # memoised day part + arithmetic: ~3x faster than strftime, and this runs several times per record
    if ts is None:
        return None
    d, s = divmod(ts, 86400)
    return f"{_day(d)}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z"


def v1_time(ts):
    if ts is None:
        return None
    d, s = divmod(ts, 86400)
    return f"{_day(d)} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def ms_time(ms):
    # Leads, lead labels and call logs use RFC 3339 with milliseconds (§3.2): 2020-10-14T11:30:36.551Z
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def date_str(ts):
    return None if ts is None else _day(ts // 86400)


_RFC3339_STRICT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")
_ISO_LENIENT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_v2_time(value: str):
    """Epoch seconds for the only form v2 accepts (§2.1: fractional or space-separated values are rejected)."""
    m = _RFC3339_STRICT.match(value)
    if not m:
        return None
    try:
        return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def parse_iso_ms(value: str):
    """Epoch milliseconds for v1 ``updated_since`` (ISO 8601 / RFC 3339; v1 is lenient, inferred)."""
    m = _ISO_LENIENT.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        base = calendar.timegm(time.strptime(f"{y}-{mo}-{d} {h}:{mi}:{s}", "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None
    ms = int((frac or "0").ljust(3, "0")[:3])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        base -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return base * 1000 + ms


# ---- opaque cursors ---------------------------------------------------------------------------------------
# The openapi example cursor decodes to {"field":"id","fieldValue":7,"sortDirection":"asc","id":7}: base64url JSON
# naming the first item of the next page. We emit the same structure.

def encode_cursor(obj: dict) -> str:
    return base64.urlsafe_b64encode(dumps(obj)).rstrip(b"=").decode("ascii")


def decode_cursor(value: str):
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        obj = loads(raw)
    except (ValueError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None
