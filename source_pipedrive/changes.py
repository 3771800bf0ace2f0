"""What changed in the account since the last sync, from one read of GET /v1/recents, shared by every stream.

A sync with nothing to fetch must cost what changed, not what exists. Pipedrive's /v1/recents (20 tokens a page)
lists the activities, activity types, deals, files, filters, notes, persons, organizations, pipelines, products,
stages and users changed after a time, each with its object (pipedrive-api.md §4.2). One read of it, from the
earliest point the selected streams need, tells each stream whether it has anything to read: a stream whose item
type has no change since its `checked_through` note (ledger.py) sends no request at all, and its children visit no
parent. Recents reaches back about a month, so a stream last checked longer ago reads as before.

`checked_through` is the time up to which the destination holds every change of a stream: the start of its last
complete read (or of the recents read that let it skip) minus SETTLED_SECONDS, so that a change Pipedrive stamped
just before, or a clock a little ahead of Pipedrive's, is never taken as seen. A change made in that margin is read
by two syncs; none is read by none.
"""

import datetime
import logging
import threading
from typing import Any, Dict, Mapping, Optional

from airbyte_cdk.sources.declarative.requesters.requester import Requester

from source_pipedrive.budget import as_text, parse_time, utc_now
from source_pipedrive.sync import Sync

_LOGGER = logging.getLogger("airbyte")
SETTLED_SECONDS = 600  # a change stamped this much before a read is visible to it, whatever the clocks' skew
WINDOW = datetime.timedelta(days=29)  # recents reaches back "at most 1 month" (pipedrive-api.md §4.2)
PAGE_SIZE = 500
MAX_PAGES = 20  # more changes than this since the last sync: the streams read as if there were no recents


class ChangeFeed:
    """The items /v1/recents listed after `since`: per item type, {id: (change time, object)}."""

    def __init__(self, requester: Requester, since: datetime.datetime) -> None:
        self.since = since
        self.read_at = utc_now()
        self.items: Dict[str, Dict[Any, tuple]] = {}
        self.complete = self._read(requester)

    def _read(self, requester: Requester) -> bool:
        from source_pipedrive.components import parsed_body  # components imports this module's users

        params = {"since_timestamp": self.since.strftime("%Y-%m-%d %H:%M:%S"), "limit": PAGE_SIZE, "start": 0}
        for _ in range(MAX_PAGES):
            response = requester.send_request(request_params=params)
            body = parsed_body(response) if response is not None else None
            if not isinstance(body, Mapping) or not body.get("success", True):
                return False
            for item in body.get("data") or ():
                data = item.get("data") if isinstance(item.get("data"), Mapping) else {}
                changed = parse_time(str(data.get("update_time") or data.get("modified") or "").replace(" ", "T"))
                self.items.setdefault(item.get("item"), {})[item.get("id")] = (changed, data)
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return True
            params = {**params, "start": pagination.get("next_start") or params["start"] + PAGE_SIZE}
        _LOGGER.info(f"More than {MAX_PAGES * PAGE_SIZE:,} changes since {as_text(self.since)}: every stream reads "
                     "its own changes this time.")
        return False

    def changed_since(self, item: str, since: datetime.datetime) -> Dict[Any, Mapping[str, Any]]:
        """{id: object} of the `item`s changed after `since` (an item without a time counts as changed)."""
        return {rid: data for rid, (changed, data) in self.items.get(item, {}).items() if changed is None or changed > since}


class Changes:
    """One sync's view of the feed: whether a stream may skip its read, and the note it leaves when it completes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.feed: Optional[ChangeFeed] = None
        self.tried = False

    def since_last_check(self, stream: str, item: str, requester: Requester) -> Optional[Dict[Any, Mapping[str, Any]]]:
        """The `item`s changed since `stream` last checked ({} when none), or None when recents cannot tell (no note
        yet, a note older than recents reaches, an unreadable feed): then the stream reads as usual. Either way the
        stream's note moves forward once it completes."""
        sync, now = Sync.current(), utc_now()
        checked = self.checked_through(stream, now)
        feed = self._feed(requester, now) if checked else None
        if feed is None or not feed.complete:
            sync.ledger.hold(stream, checked_through=as_text(now - datetime.timedelta(seconds=SETTLED_SECONDS)))
            return None
        changed = feed.changed_since(item, checked)
        start = feed.read_at if not changed else now
        sync.ledger.hold(stream, checked_through=as_text(start - datetime.timedelta(seconds=SETTLED_SECONDS)))
        return changed

    @staticmethod
    def checked_through(stream: str, now: datetime.datetime) -> Optional[datetime.datetime]:
        """The stream's note, when recents still reaches back to it (else None: the stream reads as usual)."""
        checked = parse_time(Sync.current().ledger.note(stream, "checked_through"))
        return checked if checked and checked > now - WINDOW else None

    def reading(self, stream: str) -> None:
        """The note of a stream read without asking recents (full refresh, or no recents item type)."""
        margin = datetime.timedelta(seconds=SETTLED_SECONDS)
        Sync.current().ledger.hold(stream, checked_through=as_text(utc_now() - margin))

    def read_feed(self, requester: Requester) -> bool:
        """Reads the feed now (once a sync), for the streams that decide before they are built; whether it is complete."""
        feed = self._feed(requester, utc_now())
        return feed is not None and feed.complete

    def _feed(self, requester: Requester, now: datetime.datetime) -> Optional[ChangeFeed]:
        with self.lock:
            if not self.tried:
                self.tried = True
                notes = [parse_time(n) for n in Sync.current().ledger.all_notes("checked_through")]
                since = max(min((n for n in notes if n), default=now), now - WINDOW)
                self.feed = ChangeFeed(requester, since)
            return self.feed
