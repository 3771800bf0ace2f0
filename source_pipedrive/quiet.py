"""Which streams an incremental sync may find it has nothing to read before the CDK builds them, and by what rule.

An unchanged sync of every stream reads 7 of 74 streams, yet the CDK builds all 74 first (copying and validating
every component: most of the seconds the sync takes). Each stream's rule is read off the manifest, where the
components that decide at read time are configured:
- REFERENCE: tracking.RefreshedRead, or parents that are components.ParentsInOrder with `refresh` (reference data,
  read whole once reference_refresh_hours have passed: components.read_whole_now);
- CHANGES: a tracking.CheckpointedRead or DeletionScan with a `changes_item`, or ParentsInOrder with one (skipped when
  /v1/recents reports no change of that item since the stream's checked_through: changes.py); `scans` says a
  deletion scan that falls due makes the stream read anyway.
Streams without a rule are always built. Only incremental streams can be skipped; full refresh reads every sync.
"""

from typing import Any, Dict, Mapping, NamedTuple, Optional

REFERENCE, CHANGES = "reference", "changes"


class Rule(NamedTuple):
    kind: str  # REFERENCE or CHANGES
    item: Optional[str] = None  # the /v1/recents item type (CHANGES)
    scans: bool = False  # a due deletion scan reads the stream even without a change (CHANGES)


def rules(manifest: Mapping[str, Any]) -> Dict[str, Rule]:
    """{stream: Rule} for every stream of the manifest that has one."""
    found = {}
    for name, entry in (manifest.get("definitions", {}).get("streams") or {}).items():
        rule = _rule(manifest, entry)
        if rule is not None:
            found[name] = rule
    return found


def _resolved(manifest: Mapping[str, Any], node: Any) -> Any:
    """A node with its `$ref` chain applied as the CDK does: the referenced node, updated by the node's own keys."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        target: Any = manifest
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, Mapping) else {}


def _class(node: Mapping[str, Any]) -> str:
    return str(node.get("class_name") or "").rsplit(".", 1)[-1]


def _rule(manifest: Mapping[str, Any], entry: Any) -> Optional[Rule]:
    stream = _resolved(manifest, entry)
    parameters = stream.get("$parameters") or {}
    retriever = _resolved(manifest, stream.get("retriever"))
    kind = _class(retriever)
    if kind == "RefreshedRead":
        return Rule(REFERENCE)
    if kind in ("CheckpointedRead", "DeletionScan") and parameters.get("changes_item") and retriever.get("changes_requester"):
        return Rule(CHANGES, parameters["changes_item"], kind == "DeletionScan" and not retriever.get("client_side_filter"))
    router = _resolved(manifest, retriever.get("partition_router"))
    if router.get("underlying_partition_router"):
        router = _resolved(manifest, router["underlying_partition_router"])
    if _class(router) == "ParentsInOrder":
        if router.get("refresh"):
            return Rule(REFERENCE)
        if router.get("changes_item") and router.get("changes_requester"):
            return Rule(CHANGES, router["changes_item"])
    return None
