"""What one run leaves in the state for the next, besides the cursors: the connector's own notes.

Airbyte keeps a source's state per stream, and the platform hands every stream's last committed state to the next
attempt, retried or scheduled. Each stream's state therefore carries, under KEY:
- `budget`: the daily budget as this run leaves it (budget.BudgetMemory). Every stream carries a copy; the next run
  takes the newest, so it survives whichever streams the next catalog keeps.
- the stream's own notes: `checked_through` (changes up to this time are in the destination: a sync may skip the
  stream when Pipedrive reports none since; changes.py) and `refreshed_at` (when a stream Pipedrive reports no
  changes of was last read whole).
A stream's notes change only when it completes: a read stopped half-way (the daily budget, an error) must not leave
a note saying its changes are all read. `hold` keeps them pending, `complete` commits them on the stream's COMPLETE
status and returns its state again with them.
"""

import copy
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    StreamDescriptor,
    Type,
)

from source_pipedrive.budget import BudgetMemory
from source_pipedrive.outcome import KEY, newest_budget


class Ledger:
    def __init__(self, states: Optional[Iterable[AirbyteStateMessage]] = None) -> None:
        self.lock = threading.Lock()
        self.notes: Dict[str, Dict[str, Any]] = {}
        self.pending: Dict[str, Dict[str, Any]] = {}
        self.blobs: Dict[str, Dict[str, Any]] = {}  # each stream's last state: as it came in, then as emitted
        self.budget = BudgetMemory()
        for message in states or ():
            if message.type != AirbyteStateType.STREAM or message.stream is None:
                continue
            name = message.stream.stream_descriptor.name
            blob = dict(message.stream.stream_state.__dict__) if message.stream.stream_state else {}
            self.blobs[name] = blob
            own = blob.get(KEY)
            if isinstance(own, Mapping):
                self.notes[name] = {k: v for k, v in own.items() if k != "budget"}
        self.budget = newest_budget(self.blobs.values())
        self._carried_budget = self._material()

    def note(self, stream: str, key: str) -> Any:
        with self.lock:
            return (self.notes.get(stream) or {}).get(key)

    def all_notes(self, key: str) -> List[Any]:
        with self.lock:
            return [notes[key] for notes in self.notes.values() if notes.get(key)]

    def hold(self, stream: str, **notes: Any) -> None:
        """Notes that hold once `stream` completes in this run."""
        with self.lock:
            self.pending.setdefault(stream, {}).update(notes)

    def complete(self, stream: str) -> Optional[AirbyteMessage]:
        """Commits the stream's pending notes; its state again, carrying them, if they changed it."""
        with self.lock:
            pending = self.pending.pop(stream, None)
            if not pending or all((self.notes.get(stream) or {}).get(k) == v for k, v in pending.items()):
                return None
            self.notes.setdefault(stream, {}).update(pending)
            blob = self.blobs.get(stream)
        return self._state(stream, blob) if blob else None

    def enrich(self, message: AirbyteMessage) -> None:
        """Writes the notes into an outgoing state message and remembers it as the stream's last state."""
        stream_state = message.state.stream if message.state is not None else None
        if stream_state is None or stream_state.stream_state is None:
            return
        name = stream_state.stream_descriptor.name
        blob = stream_state.stream_state
        own = self._own(name)
        setattr(blob, KEY, own)
        with self.lock:
            self.blobs[name] = {**blob.__dict__}

    def carry(self, streams: Iterable[str]) -> List[AirbyteMessage]:
        """Every stream's last state again when the budget memory changed since it was written (a stop, a probe, a
        reset seen), so that the next run finds it whichever streams it keeps."""
        material = self._material()
        if material == self._carried_budget:
            return []
        self._carried_budget = material
        return [self._state(name, self.blobs[name]) for name in streams if self.blobs.get(name)]

    def _material(self) -> Dict[str, Any]:
        """What the next run plans by: the stop and the reset window, and the last budget seen while stopped."""
        budget = self.budget.to_state()
        if not budget["stopped_at"]:
            budget.update(seen_at=None, remaining=None, limit=None)
        return budget

    def _own(self, stream: str) -> Dict[str, Any]:
        with self.lock:
            return {**copy.deepcopy(self.notes.get(stream) or {}), "budget": self.budget.to_state()}

    def _state(self, stream: str, blob: Mapping[str, Any]) -> AirbyteMessage:
        data = {**blob, KEY: self._own(stream)}
        with self.lock:
            self.blobs[stream] = data
        return AirbyteMessage(type=Type.STATE, state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(data))))
