"""A compact text form for the set of record ids a stream has emitted, kept in the stream's state.

Deletion scans (components.TrackingRetriever) diff today's ids with this set. A million Pipedrive ids
would be 8 MB as JSON numbers; as zlib-packed gaps between sorted ids they take a few hundred kB, because ids of
one company grow in small steps.
"""

import base64
import zlib
from array import array
from typing import Iterable, Set

_VERSION = "z1:"


def encode_ids(ids: Iterable[int]) -> str:
    ordered = sorted(set(ids))
    gaps = array("q", (b - a for a, b in zip([0] + ordered[:-1], ordered)))
    return _VERSION + base64.b64encode(zlib.compress(gaps.tobytes(), 6)).decode("ascii")


def decode_ids(text: str) -> Set[int]:
    if not isinstance(text, str) or not text.startswith(_VERSION):
        raise ValueError("not an id set written by this connector")
    gaps = array("q")
    gaps.frombytes(zlib.decompress(base64.b64decode(text[len(_VERSION):])))
    ids, total = set(), 0
    for gap in gaps:
        total += gap
        ids.add(total)
    return ids
