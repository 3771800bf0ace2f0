"""Secondary data sets of the account: history feeds, children, projects, mail, admin lists, goals, recents.

Mixed into data.Dataset. Same rules as the core tables: everything is a pure function of (seed, parent id) -- per-parent
children come from `Random(salt(seed, what) + parent_id)` and are generated only when asked for -- plus the state that
mutate() changes. History is the exception that must remember: mutate() appends change events to `change_log`
(`_log_update` / `_log_delete`), one event per changed field, so several changes within one second stay separate
entries (pipedrive-api.md §8.1). Seeded history ends exactly in the record as generated: the last seeded change of a
record happens at its generation-time update_time, and each field's chain of values ends in the generated value.

Truth for tests: `Dataset.catalogue_truth(name, parent_id=None, **kw)` (also `Emulator.catalogue_truth`) and the
`CATALOGUE` table at the bottom name, for every data set, the function that returns what a full read must return.
"""
from __future__ import annotations

import calendar
import hashlib
from bisect import bisect_left
import time
import uuid
from random import Random

from . import data as D
from . import fields as F
from .common import date_str, dumps, loads, ms_time, v1_time, v2_time
from .static_v1 import FILTER_HELPERS
from .v1_objects import t1

_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 "
       "Safari/537.36")
_SINGULAR = {"deals": "deal", "persons": "person", "organizations": "organization", "products": "product"}
MONTH = 30 * 86400  # /v1/recents window: "at most 1 month" (§4.2); 30 days as Fivetran describes it (inferred)

# fields whose history is seeded (chains end in the generated value); mutate() logs whatever it changes
_TRACKED = {
    "deals": ("title", "value", "stage_id", "owner_id", "expected_close_date", "probability"),
    "persons": ("name", "owner_id", "org_id", "visible_to"),
    "organizations": ("name", "owner_id", "address", "visible_to"),
}
_LOGGED_ON_UPDATE = {  # record keys compared before/after a mutation (custom fields are compared key by key)
    "deals": ("title", "value", "status", "stage_id"),
    "persons": ("name",),
    "organizations": ("name",),
}

_ROLES = ((1, None, "Admins", 1), (2, 1, "Vertrieb Europa", 2), (3, 2, "Sales DACH", 3),
          (4, 2, "Отдел продаж 🚀", 3), (5, 1, "Support & Success", 2))
_ROLE_PIPELINES = {1: ([1, 2, 3], []), 2: ([1, 2], [3]), 3: ([1], [2, 3]), 4: ([1, 3], [2]), 5: ([1, 2, 3], [])}
_PERMISSION_SETS = (
    ("sales", "admin", "Deals admin", "See and edit all sales data (deals, leads), manage company-level sales setup"),
    ("sales", "regular", "Deals regular user", "Access to sales data (deals, leads). This set is the default for new users."),
    ("global", "admin", "Global admin", "See and edit all cross-product data (such as contacts, activities, reports)"),
    ("global", "regular", "Global regular user", "Access to cross-product data. This set is the default for new users."),
    ("account_settings", "admin", "Account settings", "Access company account level features and setup"),
    ("projects", "regular", "Projects regular user", "Access to projects and tasks"),
    ("campaigns", "custom", "Kampagnen – nur lesen", "Benutzerdefiniert: Kampagnen ansehen, nicht versenden"),
)
_PERMISSIONS = (
    "can_add_custom_fields", "can_add_products", "can_add_prospects_as_leads", "can_bulk_edit_items",
    "can_change_visibility_of_items", "can_convert_deals_to_leads", "can_create_own_workflow",
    "can_delete_activities", "can_delete_custom_fields", "can_delete_deals", "can_edit_custom_fields",
    "can_edit_deals_closed_date", "can_edit_products", "can_edit_shared_filters", "can_export_data_from_lists",
    "can_follow_other_users", "can_merge_deals", "can_merge_organizations", "can_merge_people", "can_modify_labels",
    "can_see_company_wide_statistics", "can_see_deals_list_summary", "can_see_hidden_items_names",
    "can_see_other_users", "can_see_other_users_statistics", "can_see_security_dashboard", "can_share_filters",
    "can_share_insights", "can_use_api", "can_use_email_tracking", "can_use_import",
)
_REGULAR_DENIED = {"can_add_custom_fields", "can_delete_custom_fields", "can_edit_custom_fields", "can_delete_deals",
                   "can_see_security_dashboard", "can_merge_deals", "can_edit_shared_filters",
                   "can_see_company_wide_statistics"}
GOAL_TYPES = ("deals_won", "deals_progressed", "activities_completed", "activities_added", "deals_started")
# goals/find parameters documented with "If provided, everyone's goals will be returned" (openapi v1 getGoals)
GOAL_EVERYONE_PARAMS = ("type.name", "assignee.type", "expected_outcome.target", "expected_outcome.tracking_metric",
                        "expected_outcome.currency_id", "type.params.pipeline_id", "type.params.stage_id",
                        "type.params.activity_type_id")
MAIL_FOLDERS = ("inbox", "drafts", "sent", "archive")
MAILBOX_MIN = 1250  # threads in the token user's mailbox at any scale (see CatalogueMixin._mail)
RECENT_ITEMS = ("activity", "activityType", "deal", "file", "filter", "note", "person", "organization", "pipeline",
                "product", "stage", "user")
_RECENT_TABLE = {"deal": "deals", "person": "persons", "organization": "organizations", "activity": "activities",
                 "product": "products", "note": "notes"}


def _uuid(seed_text: str) -> str:
    return str(uuid.UUID(hashlib.sha1(seed_text.encode()).hexdigest()[:32], version=4))


def _ms(ts: int, frac: int = 0) -> str:
    return ms_time(ts * 1000 + frac)


def _s(v):
    """A changelog value as the v1 changelog renders it: strings or null (openapi v1 getDealChangelog)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _parse_v2(v):
    return calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))


class CatalogueMixin:
    # ---- setup ----------------------------------------------------------------------------------------------
    def _init_catalogue(self) -> None:
        self.change_log: dict = {}  # (entity, id) -> [event, ...] appended by mutate()
        self._snap: dict = {}  # (entity, id) -> record as generated, kept when mutate() first touches it
        self._mut_deleted: set = set()
        self._change_seq = 0
        # roles and permission sets are referenced by the users: make users[*].role_id / access match them.
        # Both are kept as mutable rows (reference.py changes them; ids never move)
        self._roles = [{"id": rid, "parent_role_id": parent, "name": name, "level": level}
                       for rid, parent, name, level in _ROLES]
        self._psets = [{"id": _uuid(f"{self.seed}:permission-set:{i}"), "name": name, "description": desc, "app": app,
                        "type": typ} for i, (app, typ, name, desc) in enumerate(_PERMISSION_SETS)]
        ps = self.permission_set_ids
        for u in self.users:
            uid = u["id"]
            u["role_id"] = 1 if uid == 1 else (2, 3, 4)[uid % 3]
            if uid == 1:
                access = [("sales", True, ps[0]), ("global", True, ps[2]), ("account_settings", True, ps[4])]
            else:
                access = [("sales", False, ps[1]), ("global", False, ps[3])]
                if uid % 3 == 0:
                    access.append(("projects", False, ps[5]))
            u["access"] = [{"app": a, "admin": adm, "permission_set_id": p} for a, adm, p in access]

    def _crng(self, what: str, rid: int) -> Random:
        return Random(D._salt(self.seed, what) + rid)

    @property
    def permission_set_ids(self) -> list:
        return [p["id"] for p in self._psets]

    def exists(self, entity: str, rid: int) -> bool:
        # users: every user listed now (n_users is the count at generation; add_reference("users") adds more)
        return 1 <= rid <= (len(self.users) if entity == "users" else self.tables[entity].n)

    def alive_ids(self, entity: str) -> list:
        """Ids a connector iterating the parent stream sees: not deleted (archived deals included)."""
        if entity == "users":
            return [u["id"] for u in self.users]
        t = self.tables[entity]
        return [k + 1 for k in range(t.n) if not t.flags[k] & D.DELETED]

    def _by_parent(self, src: str, col: str) -> dict:
        """parent id -> child ids (all rows, deleted ones too), cached per child-table version."""
        t = self.tables[src]
        key = ("by_parent", src, col)
        hit = self._derived.get(key)
        if hit is not None and hit[0] == (t.version, t.n):
            return hit[1]
        out: dict = {}
        ref = t.cols[col]
        for k in range(t.n):
            if ref[k]:
                out.setdefault(ref[k], []).append(k + 1)
        self._derived[key] = ((t.version, t.n), out)
        return out

    # ---- field history (v1 changelog + flow) ------------------------------------------------------------------
    def _base_record(self, entity: str, rid: int) -> dict:
        snap = self._snap.get((entity, rid))
        return snap if snap is not None else self.record(entity, rid)

    def _bulk_second(self, entity: str):
        key = ("bulk-second", entity)
        if key not in self._derived:
            counts: dict = {}
            t = self.tables[entity]
            for k in range(min(t.n, self.base_n[entity])):
                if t.upd0[k] != t.add[k]:
                    counts[t.upd0[k]] = counts.get(t.upd0[k], 0) + 1
            best = max(counts.items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))
            self._derived[key] = best[0] if best[1] >= 2 else None
        return self._derived[key]

    def _field_value(self, entity: str, rec: dict, field: str):
        if field == "address":
            return rec["address"]["formatted_address"] if rec.get("address") else None
        if field == "visible_to":
            return str(rec["visible_to"])
        return rec.get(field)

    def _prior_value(self, entity: str, field: str, final, r: Random):
        rnd = r.random
        if field in ("title", "name"):
            base = final or "Unbenannt"
            return (f"Entwurf – {base}", base.upper(), base[:-1] or base + "?", f"{base} (alt)", "Новая запись")[int(rnd() * 5)]
        if field == "value":
            return round(rnd() * 250000, 2) if rnd() < 0.8 else 0
        if field == "stage_id":
            p = (final - 1) // 5 + 1
            choices = [s for s in range((p - 1) * 5 + 1, p * 5 + 1) if s != final]
            return choices[int(rnd() * len(choices))]
        if field == "owner_id":
            others = [u for u in range(1, self.n_users + 1) if u != final] or [final]
            return others[int(rnd() * len(others))]
        if field == "org_id":
            return None if rnd() < 0.5 else 1 + int(rnd() * self.n_orgs)
        if field == "expected_close_date":
            return None if rnd() < 0.4 else date_str(self.start + int(rnd() * self.span))
        if field == "probability":
            return None if rnd() < 0.5 else int(rnd() * 100)
        if field == "visible_to":
            return "1" if final != "1" else "3"
        if field == "address":
            return None if rnd() < 0.5 else F.address_value(r)["formatted_address"]
        return None

    def _seed_changes(self, entity: str, rid: int) -> list:
        t = self.tables[entity]
        k = rid - 1
        add, upd0 = t.add[k], t.upd0[k]
        r = self._crng("changelog:" + entity, rid)
        events = []
        owner = t.cols["owner_id"][k]
        if upd0 > add:
            base = self._base_record(entity, rid)
            bulk = upd0 == self._bulk_second(entity)
            n_sessions = 1 + int(r.random() * 3)
            times = sorted(add + 1 + int(r.random() * max(1, upd0 - add - 1)) for _ in range(n_sessions - 1)) + [upd0]
            plan: dict = {}
            for ts in times:
                fields = _TRACKED[entity]
                for f in r.sample(fields, 2 if r.random() < 0.4 else 1):
                    plan.setdefault(f, []).append(ts)
            for f in _TRACKED[entity]:  # fixed field order keeps the draw sequence deterministic
                stamps = plan.get(f)
                if not stamps:
                    continue
                final = self._field_value(entity, base, f)
                chain = [final]
                for _ in stamps:
                    chain.insert(0, self._prior_value(entity, f, chain[0], r))
                for i, ts in enumerate(stamps):
                    if chain[i] == chain[i + 1]:
                        continue  # no-op edits are not logged
                    in_bulk = bulk and ts == upd0
                    app = r.random() < 0.7
                    events.append({"field_key": f, "old": chain[i], "new": chain[i + 1],
                                   "actor": owner if r.random() < 0.6 else 1 + int(r.random() * self.n_users),
                                   "ts": ts, "source": "app" if app or in_bulk else "api",
                                   "ua": _UA if app or in_bulk else None, "bulk": in_bulk})
            if entity == "deals" and (base.get("won_time") or base.get("lost_time")):
                won = base.get("won_time") is not None
                ts = _parse_v2(base["won_time"] if won else base["lost_time"])
                events.append({"field_key": "status", "old": "open", "new": "won" if won else "lost", "actor": owner,
                               "ts": min(max(ts, add + 1), upd0), "source": "app", "ua": _UA, "bulk": False})
        events.sort(key=lambda e: (e["ts"], _TRACKED[entity].index(e["field_key"]) if e["field_key"] in _TRACKED[entity] else 99))
        for j, e in enumerate(events):
            e["id"] = rid * 64 + j + 1
        if t.flags[k] & D.DELETED and (entity, rid) not in self._mut_deleted:
            # inferred: a deletion is logged like a field change (deals: status -> deleted; contacts: active_flag)
            events.append(self._deletion_event(entity, rid, t.upd[k], rid * 64 + 63, owner))
        return events

    def _deletion_event(self, entity, rid, ts, eid, actor) -> dict:
        if entity == "deals":
            st = D.STATUS[self.tables["deals"].cols["status"][rid - 1]]
            return {"id": eid, "field_key": "status", "old": st, "new": "deleted", "actor": actor, "ts": ts,
                    "source": "app", "ua": _UA, "bulk": False}
        return {"id": eid, "field_key": "active_flag", "old": True, "new": False, "actor": actor, "ts": ts,
                "source": "app", "ua": _UA, "bulk": False}

    def change_events(self, entity: str, rid: int) -> list:
        """All field-change events of one deal/person/organization, oldest first (internal form)."""
        return self._seed_changes(entity, rid) + self.change_log.get((entity, rid), [])

    def _next_change_id(self) -> int:
        self._change_seq += 1
        return 10 ** 9 + self._change_seq

    def _custom_change_value(self, entity: str, key: str, value):
        f = self.custom_by_key[entity][key]
        if value is None:
            return None
        return F.to_v1_flat({key: value}, [f]).get(key)

    def _after_update(self, entity: str, rid: int, before: dict) -> dict:
        """The record after _update() without rebuilding it: `before` plus the overrides and mutable columns."""
        t = self.tables[entity]
        ov = t.over.get(rid, {})
        after = {**before, **{k: v for k, v in ov.items() if k != "custom_fields"}}
        if "custom_fields" in ov:
            after["custom_fields"] = {**before["custom_fields"], **ov["custom_fields"]}
        if entity == "deals":
            after["stage_id"] = t.cols["stage_id"][rid - 1]
            after["status"] = D.STATUS[t.cols["status"][rid - 1]]
        return after

    def _log_update(self, entity: str, rid: int, before: dict, after: dict, ts: int) -> None:
        """Called by mutate() around _update(): one event per changed field (custom fields included)."""
        if entity not in _LOGGED_ON_UPDATE:
            return
        self._snap.setdefault((entity, rid), before)
        pick = D._mix(D._salt(self.seed, f"mutation-log:{entity}") + self.mutations * 1_000_003 + rid)
        actor = self.active_users[pick % len(self.active_users)]
        log = self.change_log.setdefault((entity, rid), [])
        for key in _LOGGED_ON_UPDATE[entity]:
            if before.get(key) != after.get(key):
                log.append({"id": self._next_change_id(), "field_key": key, "old": before.get(key),
                            "new": after.get(key), "actor": actor, "ts": ts, "source": "api", "ua": None,
                            "bulk": False})
        old_cf, new_cf = before.get("custom_fields") or {}, after.get("custom_fields") or {}
        for f in self.custom[entity]:
            if old_cf.get(f.key) != new_cf.get(f.key):
                log.append({"id": self._next_change_id(), "field_key": f.key,
                            "old": self._custom_change_value(entity, f.key, old_cf.get(f.key)),
                            "new": self._custom_change_value(entity, f.key, new_cf.get(f.key)),
                            "actor": actor, "ts": ts, "source": "api", "ua": None, "bulk": False, "custom": True})

    def _log_delete(self, entity: str, rid: int, ts: int) -> None:
        if entity not in _LOGGED_ON_UPDATE:
            return
        self._mut_deleted.add((entity, rid))
        self.change_log.setdefault((entity, rid), []).append(
            self._deletion_event(entity, rid, ts, self._next_change_id(), 1))

    def _is_custom_key(self, entity, key) -> bool:
        return key in self.custom_by_key.get(entity, {})

    def changelog(self, entity: str, rid: int) -> list:
        """GET /v1/{entity}/{id}/changelog items, newest first (openapi v1 getDealChangelog example order)."""
        out = []
        for e in reversed(self.change_events(entity, rid)):
            out.append({"field_key": e["field_key"], "old_value": _s(e["old"]), "new_value": _s(e["new"]),
                        "actor_user_id": e["actor"], "time": v1_time(e["ts"]), "change_source": e["source"],
                        "change_source_user_agent": e["ua"], "is_bulk_update_flag": e["bulk"]})
        return out

    def changelog_ids(self, entity: str, rid: int) -> list:
        return [e["id"] for e in reversed(self.change_events(entity, rid))]

    def _formatted(self, field, old, new):
        def fmt(v):
            if v is None:
                return None
            if field == "stage_id":
                return self.stages[int(v) - 1]["name"]
            if field == "owner_id":
                return self.users[int(v) - 1]["name"]
            if field == "org_id":
                return self.org_name(int(v))
            return None
        out = {}
        if fmt(new) is not None:
            out["new_value_formatted"] = fmt(new)
        if fmt(old) is not None:
            out["old_value_formatted"] = fmt(old)
        return out or []  # openapi example: "additional_data": [] when there is nothing to add (PHP empty array)

    def flow(self, entity: str, rid: int, all_changes: bool = False, items=None) -> list:
        """GET /v1/{entity}/{id}/flow items, newest first.

        Objects (inferred subset of the documented `items` values): `<entity>Change` (custom-field changes only with
        all_changes=1), `note`, `activity` (done; timestamp = marked_as_done_time), `plannedActivity` (not done;
        timestamp = due date/time), `file` (files attached to the record), `deal` (persons/organizations;
        timestamp = add_time). Deleted
        notes/activities/deals are not in the feed.
        """
        single = _SINGULAR[entity]
        rows = []  # (ts, order, id, item)
        for e in self.change_events(entity, rid):
            if e.get("custom") or self._is_custom_key(entity, e["field_key"]):
                if not all_changes:
                    continue
            rows.append((e["ts"], 0, e["id"], {"object": f"{single}Change", "timestamp": v1_time(e["ts"]), "data": {
                "id": e["id"], "item_id": rid, "user_id": e["actor"], "field_key": e["field_key"], "old_value": e["old"],
                "new_value": e["new"], "is_bulk_update_flag": True if e["bulk"] else None, "log_time": v1_time(e["ts"]),
                "change_source": e["source"], "change_source_user_agent": e["ua"],
                "additional_data": self._formatted(e["field_key"], e["old"], e["new"])}}))
        col = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id"}[entity]
        nt = self.tables["notes"]
        for nid in self._by_parent("notes", col).get(rid, ()):
            if nt.flags[nid - 1] & D.DELETED:
                continue
            rows.append((nt.add[nid - 1], 1, nid, {"object": "note", "timestamp": v1_time(nt.add[nid - 1]),
                                                    "data": self.note(nid)}))
        at = self.tables["activities"]
        for aid in self._by_parent("activities", col).get(rid, ()):
            if at.flags[aid - 1] & D.DELETED:
                continue
            a = self.v1_activity(aid)
            if a["done"]:
                stamp, obj = a["marked_as_done_time"] or a["update_time"], "activity"
            else:
                stamp, obj = f"{a['due_date']} {(a['due_time'] or '00:00')}:00", "plannedActivity"
            ts = calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
            rows.append((ts, 2, aid, {"object": obj, "timestamp": v1_time(ts), "data": a}))
        for f in self.files():
            if f[col] == rid:
                ts = calendar.timegm(time.strptime(f["add_time"], "%Y-%m-%d %H:%M:%S"))
                rows.append((ts, 3, f["id"], {"object": "file", "timestamp": f["add_time"], "data": dict(f)}))
        if entity != "deals":
            dt = self.tables["deals"]
            for did in self._by_parent("deals", col).get(rid, ()):
                if dt.flags[did - 1] & D.DELETED:
                    continue
                rows.append((dt.add[did - 1], 4, did, {"object": "deal", "timestamp": v1_time(dt.add[did - 1]),
                                                        "data": self.v1_deal(did)}))
        if items:
            wanted = set(items)
            rows = [x for x in rows if x[3]["object"] in wanted]
        rows.sort(key=lambda x: (x[0], x[1], x[2]), reverse=True)
        return [x[3] for x in rows]

    def flow_related(self, entity: str, rid: int, page: list) -> dict:
        users = set()
        for it in page:
            d = it["data"]
            for key in ("user_id", "last_update_user_id", "created_by_user_id"):
                if isinstance(d.get(key), int):
                    users.add(d[key])
        out = {"user": {str(u): self.rel_user(u) for u in sorted(users) if 1 <= u <= len(self.users)}}
        if entity == "deals":
            d = self.deal(rid)
            out["deal"] = {str(rid): self.rel_deal(rid)}
            if d["person_id"]:
                out["person"] = {str(d["person_id"]): self.rel_person(d["person_id"])}
            if d["org_id"]:
                out["organization"] = {str(d["org_id"]): self.rel_org(d["org_id"])}
        elif entity == "persons":
            out["person"] = {str(rid): self.rel_person(rid)}
            org = self.person(rid)["org_id"]
            if org:
                out["organization"] = {str(org): self.rel_org(org)}
        else:
            out["organization"] = {str(rid): self.rel_org(rid)}
        return out

    # ---- followers changelog (v2) -----------------------------------------------------------------------------
    def followers_changelog(self, entity: str, rid: int) -> list:
        """GET /api/v2/{entity}/{id}/followers/changelog items, newest first (inferred order).

        Every current follower (followers()) has an `added` entry at its add_time; ~1/3 of records also had a
        follower who was added and later removed (`added` + `removed`).
        """
        cur = self.followers(entity, rid)
        t = self.tables[entity]
        base, owner = t.add[rid - 1], t.cols["owner_id"][rid - 1]
        r = self._crng("followers-changelog:" + entity, rid)
        events = [(_parse_v2(f["add_time"]), 0, "added", owner if r.random() < 0.7 else f["user_id"], f["user_id"])
                  for f in cur]
        following = {f["user_id"] for f in cur}
        others = [u for u in range(1, self.n_users + 1) if u not in following]
        if others and base <= D.END and (r.random() < 0.35 or (entity == "deals" and rid in self.showcase_deals)):
            u = others[int(r.random() * len(others))]
            # both before the data set's end: a changelog never holds a future entry (a cursor would pass it)
            t_add = min(base + 600 + int(r.random() * 86400 * 20), D.END - 120)
            t_rm = min(t_add + 60 + int(r.random() * 86400 * 60), D.END - 60)
            events += [(t_add, 1, "added", owner, u), (t_rm, 2, "removed", u if r.random() < 0.5 else owner, u)]
        events.sort()
        return [{"action": a, "actor_user_id": actor, "follower_user_id": u, "time": v2_time(ts)}
                for ts, _, a, actor, u in reversed(events)]

    # ---- deal participants (v1) -------------------------------------------------------------------------------
    def _participant_rows(self, did: int):
        t = self.tables["deals"]
        k = did - 1
        r = self._crng("participants", did)
        primary = t.cols["person_id"][k]
        pids = [primary] if primary else []
        showcase = did in self.showcase_deals
        n_more = (0, 0, 0, 1, 1, 2)[int(r.random() * 6)]
        for _ in range(max(n_more, 1) if showcase else n_more):
            p = 1 + int(r.random() * self.n_persons)
            if p not in pids:
                pids.append(p)
        adder = t.cols["owner_id"][k]
        created = t.add[k] > D.END  # by a mutation, at the clock's now: every participant added then, none removed
        rows = [(did * 4 + j + 1, p, t.add[k] + (0 if created else 60 * j),
                 adder if j == 0 else self.active_users[int(r.random() * len(self.active_users))])
                for j, p in enumerate(pids)]
        removed = None
        if (r.random() < 0.3 or showcase) and not created:
            p = 1 + int(r.random() * self.n_persons)
            while showcase and p in pids and len(pids) < self.n_persons:
                p = 1 + int(r.random() * self.n_persons)
            if p not in pids:
                t_add = min(t.add[k] + 3600 + int(r.random() * 86400 * 10), D.END - 120)  # history ends with the data
                removed = (p, t_add, min(t_add + 60 + int(r.random() * 86400 * 30), D.END - 60), adder)
        return rows, removed

    def participant_person_ids(self, did: int) -> list:
        """Persons currently participating in a deal (primary contact first); cheap, no rendering."""
        return [person for _, person, _, _ in self._participant_rows(did)[0]]

    def deal_participants(self, did: int) -> list:
        """GET /v1/deals/{id}/participants items (openapi v1 getDealParticipants example shape)."""
        rows, _ = self._participant_rows(did)
        out = []
        for pid_, person, ts, adder in rows:
            ref = self.rel_person(person)
            out.append({
                "id": pid_, "person_id": {"active_flag": ref["active_flag"], "name": ref["name"], "email": ref["email"],
                                          "phone": ref["phone"], "owner_id": ref["owner_id"],
                                          "company_id": self.company_id, "value": person},
                "add_time": v1_time(ts), "active_flag": True,
                "related_item_data": {"deal_id": did, "title": self.deal_title(did)},
                "person": self.v1_person(person, nested=True), "added_by_user_id": self.user_ref(adder),
                "related_item_type": "deal", "related_item_id": did,
            })
        return out

    def participants_changelog(self, did: int) -> list:
        """GET /v1/deals/{id}/participantsChangelog items, newest first (inferred order)."""
        rows, removed = self._participant_rows(did)
        events = [(ts, person, "added", adder) for _, person, ts, adder in rows]
        if removed:
            p, t_add, t_rm, adder = removed
            events += [(t_add, p, "added", adder), (t_rm, p, "removed", adder)]
        events.sort(key=lambda e: (e[0], e[2] == "removed"))
        return [{"actor_user_id": a, "person_id": p, "action": act, "time": v1_time(ts)}
                for ts, p, act, a in reversed(events)]

    # ---- deal discounts / installments, product images (v2) ---------------------------------------------------
    def deal_discounts(self, did: int) -> list:
        """GET /api/v2/deals/{id}/discounts items (openapi v2 getAdditionalDiscounts)."""
        r = self._crng("discounts", did)
        if r.random() >= 0.25 and did not in self.showcase_deals:
            return []
        t = self.tables["deals"]
        owner, add = t.cols["owner_id"][did - 1], t.add[did - 1]
        out = []
        for j in range(1 + (r.random() < 0.3)):
            pct = r.random() < 0.6
            amount = (5, 10, 15, 12.5)[int(r.random() * 4)] if pct else round(50 + r.random() * 450, 2)
            created = add + 3600 * (j + 2)
            updated = created if r.random() < 0.7 else created + int(r.random() * 86400 * 30)
            if add > D.END:  # a deal created by a mutation, at the clock's now: its discounts were given with it
                created = updated = add
            out.append({"id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
                        "type": "percentage" if pct else "amount", "amount": amount,
                        "description": f"{amount:g}%" if pct and r.random() < 0.5 else
                        ("Treuerabatt", "Скидка за объём", "早期割引", "Partner discount 🤝")[int(r.random() * 4)],
                        "deal_id": did, "created_at": v2_time(created), "created_by": owner,
                        "updated_at": v2_time(updated), "updated_by": owner if r.random() < 0.8 else 1})
        return out

    def deal_installments(self, did: int) -> list:
        """GET /api/v2/deals/installments items of one deal (openapi v2 getInstallments); at most 4 per deal."""
        r = self._crng("installments", did)
        if r.random() >= 0.15 and did not in self.showcase_deals:
            return []
        add = self.tables["deals"].add[did - 1]
        out = []
        for j in range(2 + int(r.random() * 3)):
            out.append({"id": did * 4 + j + 1, "amount": round(100 + r.random() * 5000, 2),
                        "billing_date": date_str(add + 86400 * 30 * (j + 1)),
                        "description": (f"Rate {j + 1}", "Anzahlung", "Оплата частями", "Delivery Fee")[int(r.random() * 4)],
                        "deal_id": did})
        return out

    def product_image(self, pid: int):
        """GET /api/v2/products/{id}/images data, or None when the product has no image (-> 404, inferred).
        Images added, replaced or deleted through reference.py win over the generated one."""
        st = self._refs.get("product_images")
        if st:
            if pid in st["gone"]:
                return None
            added = next((x for x in st["added"] if x["product_id"] == pid), None)
            if added is not None:
                return {**added, **st["over"].get(pid, {})}
        img = self._product_image_base(pid)
        if img is not None and st and pid in st["over"]:
            img = {**img, **st["over"][pid]}
        return img

    def _product_image_base(self, pid: int):
        r = self._crng("product-image", pid)
        if (r.random() >= 0.4 or pid == 3) and pid != 2:  # product 2 always has an image, product 3 never
            return None
        u = uuid.UUID(int=r.getrandbits(128), version=4)
        ext = "png" if r.random() < 0.6 else "jpeg"
        return {"id": pid, "product_id": pid, "company_id": str(self.company_id),
                "public_url": f"https://{self.company_domain}.pipedrive.com/product-images/{u}.{ext}",
                "add_time": date_str(self.tables["products"].add[pid - 1] + 86400),  # openapi example: a date
                "mime_type": f"image/{ext}",
                "name": ("produkt-bild.png", "фото-товара.jpg", "製品画像.png", "product-image.png")[int(r.random() * 4)]}

    # ---- projects (v2, Beta) ----------------------------------------------------------------------------------
    def _projects(self) -> dict:
        hit = self._derived.get("projects")
        if hit is not None:
            return hit
        r = Random(f"{self.seed}:projects")
        base = self.start - 86400 * 15
        boards, phases = [], []
        for b, name in enumerate(("Onboarding 🚀", "Implementierung", "Поддержка"), 1):
            boards.append({"id": b, "name": name, "order_nr": b, "add_time": _ms(base + b * 60),
                           "update_time": _ms(base + b * 3600)})
            for j, ph in enumerate(("Planung", "In Arbeit", "Review ✓", "Готово")):
                pid = (b - 1) * 4 + j + 1
                phases.append({"id": pid, "name": ph, "board_id": b, "order_nr": j + 1,
                               "add_time": _ms(base + pid * 120), "update_time": _ms(base + pid * 240)})
        custom = []
        for order, (name, ftype, labels) in enumerate((("Kategorie", "enum", ["Intern", "Extern", "Forschung", "Внедрение"]),
                                                        ("Kundenreferenz", "varchar", None),
                                                        ("Budget", "monetary", None), ("Go-live", "date", None))):
            key = hashlib.sha1(f"{self.seed}:projects:{name}".encode()).hexdigest()
            opts = [(5001 + i, lab, None) for i, lab in enumerate(labels)] if labels else None
            stale = [(5099, "Veraltet ✝", None)] if labels else []  # a deleted option still set on old projects
            custom.append(F.CustomField(key, name, ftype, opts, stale, order, self.start + 86400 * (order + 1)))
        n = max(6, min(self.scale // 10, 1500))  # projects are a separate, smaller product (inferred)
        projects, tasks, templates = [], [], []
        n_deals = self.base_n["deals"]
        for i in range(1, n + 1):
            add = self.start + int(r.random() * self.span)
            upd = add + int((D.END - add) * r.random() * 0.5)
            b = 1 + int(r.random() * 3)
            x = r.random()
            status = "open" if x < 0.55 else "completed" if x < 0.77 else "canceled" if x < 0.9 else "deleted"
            archived = status != "deleted" and r.random() < 0.15
            if i == 5:  # small accounts too have a deleted and two archived projects
                status, archived = "deleted", False
            elif i in (3, 4):
                archived = status != "deleted"
            start_day = add + 86400 * int(r.random() * 20)
            projects.append({
                "id": i, "title": ("Einführung {}", "Rollout {}", "Внедрение {}", "導入 {}", "Migration {} 🚚")[int(r.random() * 5)]
                .format(self._base_org_name(1 + int(r.random() * self.n_orgs))),
                "description": ("", "Kick-off mit dem Kunden", "Описание проекта", "Phase 2 – Erweiterung")[int(r.random() * 4)],
                "status": status, "board_id": b, "phase_id": (b - 1) * 4 + 1 + int(r.random() * 4),
                "owner_id": self._owner(r), "start_date": date_str(start_day),
                "end_date": date_str(start_day + 86400 * (14 + int(r.random() * 120))) if r.random() < 0.7 else None,
                "deal_ids": sorted({1 + int(r.random() * n_deals) for _ in range(int(r.random() * 3))}),
                "person_ids": sorted({1 + int(r.random() * self.n_persons) for _ in range(int(r.random() * 3))}),
                "org_ids": sorted({1 + int(r.random() * self.n_orgs) for _ in range(int(r.random() * 2))}),
                "label_ids": sorted({1 + int(r.random() * 3) for _ in range(int(r.random() * 3))}),
                "health_status": (None, None, 10, 20, 30)[int(r.random() * 5)],
                "add_time": _ms(add, int(r.random() * 1000)), "update_time": _ms(upd, int(r.random() * 1000)),
                "status_change_time": _ms(add + (upd - add) // 2, int(r.random() * 1000)),
                "archive_time": _ms(upd, int(r.random() * 1000)) if archived else None,
                "custom_fields": {f.key: F.custom_value(r, f, self) for f in custom},
            })
            root_ids = []
            for j in range(int(r.random() * 7)):
                tid = len(tasks) + 1
                t_add = add + 3600 * (j + 1)
                done = r.random() < 0.4
                parent = root_ids[int(r.random() * len(root_ids))] if root_ids and r.random() < 0.3 else None
                if parent is None:
                    root_ids.append(tid)
                tasks.append({
                    "id": tid, "title": ("Kick-off", "Daten migrieren", "Schulung – Team", "Тестирование", "レビュー",
                                         "Go-live ✔")[int(r.random() * 6)],
                    "creator_id": self._owner(r),
                    "description": (None, "", "Siehe Protokoll", "Подробности в заметке")[int(r.random() * 4)],
                    "project_id": i, "is_done": done, "is_milestone": r.random() < 0.15,
                    "due_date": date_str(t_add + 86400 * int(r.random() * 60)) if r.random() < 0.6 else None,
                    "start_date": date_str(t_add) if r.random() < 0.5 else None, "parent_task_id": parent,
                    "assignee_ids": sorted({self._owner(r) for _ in range(int(r.random() * 3))}),
                    "priority": (None, None, 0, 1, 2, 3)[int(r.random() * 6)],
                    "add_time": _ms(t_add), "update_time": _ms(t_add + int(r.random() * 86400 * 10)),
                    "marked_as_done_time": _ms(t_add + 86400 * 5) if done else None,
                })
        for i, title in enumerate(("Kunden-Onboarding", "Office Renovation", "Внедрение CRM", "導入テンプレート"), 1):
            templates.append({"id": i, "title": title, "description": ("Vorlage für " + title) if i % 2 else "",
                              "projects_board_id": 1 + (i - 1) % 3, "owner_id": 1,
                              "add_time": _ms(base + i * 7200), "update_time": _ms(base + i * 9000)})
        hit = {"boards": boards, "phases": phases, "custom": custom, "projects": projects, "tasks": tasks,
               "templates": templates}
        self._derived["projects"] = hit
        return hit

    def boards(self) -> list:
        return [dict(b) for b in self._projects()["boards"]]

    def phases(self, board_id: int) -> list:
        return [dict(p) for p in self._projects()["phases"] if p["board_id"] == board_id]

    def projects(self, copy: bool = True) -> list:
        """Every project record (archived and status=deleted included); see CATALOGUE for what each list returns.
        copy=False hands out the shared records (read-only, for handlers)."""
        pr = self._projects()["projects"]
        return loads(dumps(pr)) if copy else pr

    def project(self, pid: int):
        pr = self._projects()["projects"]
        return pr[pid - 1] if 1 <= pid <= len(pr) else None

    def project_templates(self) -> list:
        return [dict(t) for t in self._projects()["templates"]]

    def tasks(self, copy: bool = True) -> list:
        """GET /api/v2/tasks without filters: tasks of projects that are not deleted (inferred)."""
        pr = self._projects()["projects"]
        return [dict(t) if copy else t for t in self._projects()["tasks"] if pr[t["project_id"] - 1]["status"] != "deleted"]

    def project_fields(self) -> list:
        """GET /api/v2/projectFields items (openapi v2 getProjectFields example: ui_visibility etc. always present)."""
        builtin = (("id", "ID", "int", None), ("title", "Project Name", "varchar", None),
                   ("description", "Description", "text", None),
                   ("status", "Status", "status", [("open", "Open"), ("completed", "Completed"), ("canceled", "Canceled")]),
                   ("board_id", "Board", "projects_board", None), ("phase_id", "Phase", "projects_phase", None),
                   ("owner_id", "Owner", "user", None), ("start_date", "Start date", "date", None),
                   ("end_date", "End date", "date", None), ("deal_ids", "Deals", "deals", None),
                   ("person_ids", "People", "people", None), ("org_ids", "Organizations", "org", None),
                   ("label_ids", "Labels", "set", [("1", "Priorität"), ("2", "Риск"), ("3", "VIP ⭐")]),
                   ("health_status", "Health", "int", None), ("add_time", "Created", "date", None),
                   ("update_time", "Updated", "date", None), ("archive_time", "Archived", "date", None))
        extras = {"ui_visibility": {"add_visible_flag": True, "details_visible_flag": True},
                  "important_fields": {"enabled": False, "stage_ids": []}, "required_fields": {"enabled": False}}
        out = []
        for code, name, ftype, opts in builtin:
            out.append({"field_name": name, "field_code": code, "field_type": ftype,
                        "options": [{"id": i, "label": lab} for i, lab in opts] if opts else None,
                        "subfields": None, "is_custom_field": False, "is_optional_response_field": False,
                        **loads(dumps(extras))})
            if code == "title":
                out[-1]["required_fields"] = {"enabled": True}
        for f in self._projects()["custom"]:
            out.append({"field_name": f.name, "field_code": f.key, "field_type": f.type,
                        "options": [{"id": i, "label": lab} for i, lab, _ in f.options] if f.options else None,
                        "subfields": F.v2_subfields(f.type, f.name), "is_custom_field": True,
                        "is_optional_response_field": False, **loads(dumps(extras))})
        return out

    def project_changelog(self, pid: int) -> list:
        """GET /api/v2/projects/{id}/changelog items, newest first (openapi example order): the seeded history of
        the project as generated, then what reference.py changed (newest first)."""
        logged = self._project_log.get(pid, [])
        p = self._project_base.get(pid) or self.project(pid)
        if pid in self._project_added:  # created through add_reference: no seeded history
            return list(reversed(logged))
        r = self._crng("project-changelog", pid)
        add = calendar.timegm(time.strptime(p["add_time"][:19], "%Y-%m-%dT%H:%M:%S"))
        upd = calendar.timegm(time.strptime(p["update_time"][:19], "%Y-%m-%dT%H:%M:%S"))
        archived = p["archive_time"] is not None  # every archived, edited project has history (inferred realism)
        n = ((1 + int(r.random() * 3)) if archived else int(r.random() * 4)) if upd > add else 0
        stamps = sorted(add + 1 + int(r.random() * max(1, upd - add - 1)) for _ in range(max(0, n - 1))) + ([upd] if n else [])
        current = {"title": p["title"], "status": p["status"], "phase_id": p["phase_id"], "owner_id": p["owner_id"]}
        events = []
        for ts in reversed(stamps):  # walk back from the current values
            field = ("title", "status", "phase_id", "owner_id")[int(r.random() * 4)]
            new = current[field]
            if field == "title":
                old = f"{new} (Entwurf)"
            elif field == "status":
                old = "open" if new != "open" else "completed"
            elif field == "phase_id":
                b = p["board_id"]
                old = [x for x in range((b - 1) * 4 + 1, b * 4 + 1) if x != new][int(r.random() * 3)]
            else:
                others = [u for u in range(1, self.n_users + 1) if u != new] or [new]
                old = others[int(r.random() * len(others))]
            current[field] = old
            new_values, old_values = {field: new}, {field: old}
            if field == "phase_id" and r.random() < 0.3:
                new_values["board_id"] = old_values["board_id"] = p["board_id"]
            api = r.random() < 0.3
            events.append({"change_source": "api" if api else "app", "change_source_user_agent": None if api else _UA,
                           "time": _ms(ts), "new_values": new_values, "old_values": old_values,
                           "actor_user_id": p["owner_id"] if r.random() < 0.6 else 1 + int(r.random() * self.n_users)})
        return list(reversed(logged)) + events

    def project_permitted_users(self, pid: int) -> list:
        p = self.project(pid)
        r = self._crng("project-users", pid)
        users = {p["owner_id"]} | {1 + int(r.random() * self.n_users) for _ in range(int(r.random() * 4))}
        return sorted(users)

    # ---- mail (v1) ------------------------------------------------------------------------------------------
    def _mail(self) -> dict:
        """Every mailbox of the company: threads and their messages, plus which messages each deal, person and
        organization lists.

        1. CRM mail, growing with the account (scale // 8 threads, at most 3,000): threads of every user, each with
           a contact person and half of them with a deal.
        2. One shared inbox thread per showcase archived deal (data._pick_showcase_deals).
        3. The rest of the token user's (user 1) mailbox: mail from senders who are no contact (newsletters,
           vendors, colleagues), linked to nothing, so that the mailbox holds at least MAILBOX_MIN threads at any
           scale, most of them in the inbox -- more than one 500-thread page, as a busy mailbox does.
        """
        hit = self._derived.get("mail")
        if hit is not None:
            return hit
        r = Random(f"{self.seed}:mail")
        threads, messages = [], []
        n = max(6, min(self.scale // 8, 3000))  # one mailbox per user: it does not grow with the CRM (inferred)
        dt = self.tables["deals"]
        for i in range(1, n + 1):
            user = 1 if r.random() < 0.5 else self._owner(r)
            folder = MAIL_FOLDERS[(0, 0, 0, 2, 2, 3, 1)[int(r.random() * 7)]]
            deal = 1 + int(r.random() * self.base_n["deals"]) if r.random() < 0.5 else None
            person = (dt.cols["person_id"][deal - 1] if deal else 0) or 1 + int(r.random() * self.n_persons)
            shared = 1 if user == 1 else (0 if r.random() < 0.3 else 1)
            if i == 2 and self.n_users > 1:  # at least one private deal thread of another user (§8.11)
                user, shared, deal = 2, 0, deal or 1
                person = dt.cols["person_id"][deal - 1] or person
            t0 = self.start + int(r.random() * self.span)
            subject = ("Angebot für {}", "Re: Vertrag {}", "Вопрос по {}", "{} のお見積もり", "Follow-up: {} 📎")[int(r.random() * 5)]
            subject = subject.format(self._base_org_name(1 + int(r.random() * self.n_orgs)))
            n_msgs = 1 if folder == "drafts" else (1, 1, 2, 3, 4)[int(r.random() * 5)]
            tid_msgs = self._gen_mail_messages(r, i, user, folder, subject, self._contact_party(person), t0, n_msgs,
                                               messages)
            threads.append({"id": i, "user_id": user, "folder": folder, "deal_id": deal, "person_id": person,
                            "shared": shared, "subject": subject, "messages": tid_msgs, "t0": t0})
        rf = Random(f"{self.seed}:mail-mailbox")
        for did in sorted(self.showcase_deals):
            i, person = len(threads) + 1, dt.cols["person_id"][did - 1] or None
            t0 = dt.add[did - 1] + 86400
            subject = f"Re: {self.deal_title(did)}"
            them = self._contact_party(person) if person else self._outside_party(rf)
            tid_msgs = self._gen_mail_messages(rf, i, 1, "inbox", subject, them, t0, 2, messages)
            threads.append({"id": i, "user_id": 1, "folder": "inbox", "deal_id": did, "person_id": person,
                            "shared": 1, "subject": subject, "messages": tid_msgs, "t0": t0})
        own = sum(1 for th in threads if th["user_id"] == 1)
        for _ in range(max(0, MAILBOX_MIN - own)):
            i = len(threads) + 1
            x = rf.random()
            folder = "inbox" if x < 0.8 else "archive" if x < 0.9 else "sent" if x < 0.97 else "drafts"
            t0 = self.start + int(rf.random() * self.span)
            subject = ("Newsletter {}", "Ihre Rechnung {}", "Einladung: Webinar {}", "Рассылка {}", "Team lunch {}",
                       "ご案内 {}", "Out of office: {}")[int(rf.random() * 7)].format(1 + int(rf.random() * 999))
            n_msgs = 1 if folder == "drafts" else (1, 1, 1, 2)[int(rf.random() * 4)]
            tid_msgs = self._gen_mail_messages(rf, i, 1, folder, subject, self._outside_party(rf), t0, n_msgs,
                                               messages)
            threads.append({"id": i, "user_id": 1, "folder": folder, "deal_id": None, "person_id": None,
                            "shared": 1, "subject": subject, "messages": tid_msgs, "t0": t0})
        hit = {"threads": threads, "messages": messages, "by": self._mail_links(threads)}
        self._derived["mail"] = hit
        return hit

    def _mail_links(self, threads) -> dict:
        """Link indexes: which messages a deal/person/org mail endpoint lists (private threads of others and threads
        deleted through reference.py excluded)."""
        dt, pt = self.tables["deals"], self.tables["persons"]
        by = {"deals": {}, "persons": {}, "organizations": {}}
        porg, dorg = pt.cols["org_id"], dt.cols["org_id"]
        for th in threads:
            if (th["user_id"] != 1 and not th["shared"]) or th.get("deleted"):
                continue  # §8.11: messages a user marked private are never returned, even to admins
            orgs = set()
            if th["person_id"]:
                if porg[th["person_id"] - 1]:
                    orgs.add(porg[th["person_id"] - 1])
                by["persons"].setdefault(th["person_id"], []).extend(th["messages"])
            if th["deal_id"]:
                by["deals"].setdefault(th["deal_id"], []).extend(th["messages"])
                if dorg[th["deal_id"] - 1]:
                    orgs.add(dorg[th["deal_id"] - 1])
            for o in orgs:
                by["organizations"].setdefault(o, []).extend(th["messages"])
        return by

    def _contact_party(self, person: int):
        """A mail party that is a contact person (linked_person_id set); `pid` numbers the party within mail."""
        first, last = self._base_person_names(person)
        name = f"{first} {last}"
        org = self.tables["persons"].cols["org_id"][person - 1] or None
        return lambda pid: {"id": pid, "email_address": f"contact{person}.0@example.com", "name": name,
                            "linked_person_id": person, "linked_person_name": name, "mail_message_party_id": pid,
                            "linked_organization_id": org}

    @staticmethod
    def _outside_party(r: Random):
        """A sender who is no contact in the CRM: nothing linked."""
        who = ("Newsletter", "Billing", "Events Team", "Рассылка", "Kollege Süd", "サポート")[int(r.random() * 6)]
        box = ("news", "billing", "events", "info", "team", "support")[int(r.random() * 6)]
        address = f"{box}@vendor{int(r.random() * 50)}.example"
        return lambda pid: {"id": pid, "email_address": address, "name": who, "linked_person_id": None,
                            "linked_person_name": "", "mail_message_party_id": pid, "linked_organization_id": None}

    def _gen_mail_messages(self, r: Random, tid: int, user: int, folder: str, subject: str, them, t0: int,
                           n_msgs: int, messages: list) -> list:
        """Append the messages of thread `tid` to `messages`; returns their ids. Party ids count 2 per message."""
        u = self.users[user - 1]
        out = []
        for j in range(n_msgs):
            ts = t0 + 3600 * j * (1 + int(r.random() * 20))
            outgoing = folder == "sent" or folder == "drafts" or (j % 2 == 1)
            mid = len(messages) + 1
            me = {"id": 2 * mid - 1, "email_address": u["email"], "name": u["name"], "linked_person_id": None,
                  "linked_person_name": "", "mail_message_party_id": 2 * mid - 1, "linked_organization_id": None}
            other = them(2 * mid)
            messages.append({
                "id": mid, "thread_id": tid, "from": [me if outgoing else other], "to": [other if outgoing else me],
                "cc": [], "bcc": [], "user_id": user, "ts": ts, "outgoing": outgoing, "draft": folder == "drafts",
                "subject": subject if j == 0 else "Re: " + subject,
                "snippet": ("Vielen Dank für Ihre Nachricht", "Спасибо, получили", "よろしくお願いします",
                            "See attached 📎", "Kurze Rückfrage zu den Preisen")[int(r.random() * 5)],
                "read": 1 if (outgoing or r.random() < 0.7) else 0,
                "tracking": ("opened", "not opened", None)[int(r.random() * 3)] if outgoing else None,
                "attachments": 1 if r.random() < 0.25 else 0,
                "template_id": 1 + int(r.random() * 3) if outgoing and r.random() < 0.2 else None,
                "body": "<p>Guten Tag,</p><p>anbei das Angebot – Grüße / С уважением</p>",
            })
            out.append(mid)
        return out

    def _mail_message(self, m: dict, thread_form: bool, include_body: bool = False) -> dict:
        th = self._mail()["threads"][m["thread_id"] - 1]

        def party(p):
            if thread_form:
                return {"id": p["id"], "name": p["name"], "latest_sent": False, "email_address": p["email_address"],
                        "message_time": m["ts"] * 1000, "linked_person_id": p["linked_person_id"],
                        "linked_person_name": p["linked_person_name"], "mail_message_party_id": p["mail_message_party_id"],
                        "linked_organization_id": p["linked_organization_id"]}
            return {k: p[k] for k in ("id", "email_address", "name", "linked_person_id", "linked_person_name",
                                      "mail_message_party_id")}
        rec = {
            "id": m["id"], "from": [party(p) for p in m["from"]], "to": [party(p) for p in m["to"]],
            "cc": [party(p) for p in m["cc"]], "bcc": [party(p) for p in m["bcc"]],
            "body_url": f"https://{self.company_domain}.pipedrive.com/mail/bodies/{m['id']}",
            "account_id": f"acc-{self.seed}-{th['user_id']}", "user_id": th["user_id"], "mail_thread_id": th["id"],
            "subject": m["subject"], "snippet": m["snippet"], "mail_tracking_status": m["tracking"],
            "mail_link_tracking_enabled_flag": 0, "read_flag": m["read"],
            "draft": (m["body"] if m["draft"] else None) if thread_form else (m["body"] if m["draft"] else ""),
            "draft_flag": int(m["draft"]), "synced_flag": 1, "deleted_flag": 0, "has_body_flag": 1,
            "sent_flag": int(m["outgoing"] and not m["draft"]), "sent_from_pipedrive_flag": int(m["outgoing"] and not m["draft"]),
            "smart_bcc_flag": 0, "message_time": _ms(m["ts"]), "add_time": _ms(m["ts"] + 5),
            "update_time": _ms(m["ts"] + 60), "has_attachments_flag": m["attachments"],
            "has_inline_attachments_flag": 0, "has_real_attachments_flag": m["attachments"],
        }
        if not thread_form:
            rec.update({"nylas_id": f"nyl{m['id']:08x}", "s3_bucket": "pipedrive-mail-emulated",
                        "s3_bucket_path": f"{self.company_id}/{th['user_id']}/{m['id']}/body",
                        "external_deleted_flag": False, "mua_message_id": f"<msg{m['id']}@{self.company_domain}.example>",
                        "template_id": m["template_id"], "item_type": "mailMessage", "timestamp": _ms(m["ts"] + 5),
                        "company_id": self.company_id})
            if include_body:
                rec["body"] = m["body"]
        return rec

    def mail_thread_ids(self, folder=None) -> list:
        """Ids of the token user's (user 1) threads in `folder` (all folders if None), most recent message first."""
        mail = self._mail()
        key = ("folder", folder)
        if key not in mail:
            last = lambda th: mail["messages"][th["messages"][-1] - 1]["ts"]  # noqa: E731
            mail[key] = [th["id"] for th in sorted(
                (th for th in mail["threads"] if th["user_id"] == 1 and not th.get("deleted")
                 and (folder is None or th["folder"] == folder)),
                key=lambda th: (last(th), th["id"]), reverse=True)]
        return mail[key]

    def mail_threads(self, folder=None) -> list:
        """GET /v1/mailbox/mailThreads?folder= items: the token user's (user 1) threads, most recent message first."""
        return [self.mail_thread(tid) for tid in self.mail_thread_ids(folder)]

    def mail_thread(self, tid: int) -> dict:
        mail = self._mail()
        th = mail["threads"][tid - 1]
        msgs = [mail["messages"][i - 1] for i in th["messages"]]
        sent = [m["ts"] for m in msgs if m["outgoing"] and not m["draft"]]
        received = [m["ts"] for m in msgs if not m["outgoing"]]
        first, last = msgs[0], msgs[-1]
        parties = {"to": [], "from": []}
        for m in msgs:
            for side in ("to", "from"):
                for p in m[side]:
                    if all(x["id"] != p["id"] and x["email_address"] != p["email_address"] for x in parties[side]):
                        parties[side].append({"id": p["id"], "name": p["name"], "latest_sent": False,
                                              "email_address": p["email_address"], "message_time": m["ts"] * 1000,
                                              "linked_person_id": p["linked_person_id"],
                                              "linked_person_name": p["linked_person_name"],
                                              "linked_organization_id": p["linked_organization_id"],
                                              "mail_message_party_id": p["mail_message_party_id"]})
        deal = th["deal_id"]
        return {
            "id": th["id"], "account_id": f"acc-{self.seed}-{th['user_id']}", "user_id": th["user_id"],
            "subject": th["subject"], "snippet": last["snippet"], "read_flag": int(all(m["read"] for m in msgs)),
            "mail_tracking_status": last["tracking"], "has_attachments_flag": int(any(m["attachments"] for m in msgs)),
            "has_inline_attachments_flag": 0, "has_real_attachments_flag": int(any(m["attachments"] for m in msgs)),
            "deleted_flag": 0, "synced_flag": 1, "smart_bcc_flag": 0, "mail_link_tracking_enabled_flag": 0,
            "parties": parties, "drafts_parties": [], "folders": [th["folder"]], "version": 1 + len(msgs),
            "snippet_draft": last["snippet"] if th["folder"] == "drafts" else None,
            "snippet_sent": next((m["snippet"] for m in reversed(msgs) if m["outgoing"] and not m["draft"]), ""),
            "message_count": len(msgs), "has_draft_flag": int(th["folder"] == "drafts"),
            "has_sent_flag": int(bool(sent)), "archived_flag": int(th["folder"] == "archive"),
            "shared_flag": th["shared"], "external_deleted_flag": 0,
            "first_message_to_me_flag": int(not first["outgoing"]),
            "last_message_timestamp": _ms(last["ts"]), "first_message_timestamp": _ms(first["ts"]),
            "last_message_sent_timestamp": _ms(max(sent)) if sent else None,
            "last_message_received_timestamp": _ms(max(received)) if received else None,
            "add_time": _ms(first["ts"] + 13), "update_time": _ms(last["ts"] + 36), "deal_id": deal,
            "deal_status": self.deal(deal)["status"] if deal else None, "lead_id": None,
            "all_messages_sent_flag": int(all(m["outgoing"] for m in msgs)),
        }

    def mail_thread_owner(self, tid: int):
        threads = self._mail()["threads"]
        if not 1 <= tid <= len(threads) or threads[tid - 1].get("deleted"):
            return None  # a thread deleted through reference.py answers 404 like an unknown one (inferred)
        return threads[tid - 1]["user_id"]

    def mail_thread_messages(self, tid: int) -> list:
        """GET /v1/mailbox/mailThreads/{id}/mailMessages items (oldest first, inferred)."""
        mail = self._mail()
        return [self._mail_message(mail["messages"][i - 1], True) for i in mail["threads"][tid - 1]["messages"]]

    def mail_messages(self, entity: str, rid: int, include_body: bool = False) -> list:
        """GET /v1/{deals,persons,organizations}/{id}/mailMessages items, newest first (inferred)."""
        mail = self._mail()
        ids = mail["by"][entity].get(rid, [])
        msgs = sorted((mail["messages"][i - 1] for i in set(ids)), key=lambda m: (m["ts"], m["id"]), reverse=True)
        return [{"object": "mailMessage", "timestamp": v1_time(m["ts"] + 5),
                 "data": self._mail_message(m, False, include_body)} for m in msgs]

    # ---- note comments (v1) -----------------------------------------------------------------------------------
    def note_comments(self, nid: int) -> list:
        r = self._crng("note-comments", nid)
        nt = self.tables["notes"]
        add = nt.add[nid - 1]
        out = []
        if add > D.END:  # created by a mutation, at the clock's now: nobody has commented yet
            return out
        for j in range((0, 0, 0, 1, 1, 2, 3)[int(r.random() * 7)]):
            ts = add + 600 * (j + 1) + int(r.random() * 3600)
            author = self.active_users[int(r.random() * len(self.active_users))]
            edited = r.random() < 0.3
            out.append({"uuid": str(uuid.UUID(int=r.getrandbits(128), version=4)), "active_flag": True,
                        "add_time": _ms(ts, int(r.random() * 1000)),
                        "update_time": _ms(ts + (int(r.random() * 86400) if edited else 9), int(r.random() * 1000)),
                        "content": ("Einverstanden 👍", "Согласен, позвоню завтра", "確認しました",
                                    "<p>Bitte Angebot prüfen</p>", "Done ✔")[int(r.random() * 5)],
                        "object_id": str(nid), "object_type": "note", "user_id": author,
                        "updater_id": author if not edited or r.random() < 0.5 else 1, "company_id": self.company_id})
        return out

    # ---- roles, permission sets, user admin data (v1) ---------------------------------------------------------
    def roles(self) -> list:
        out = []
        for x in self._roles:
            rid = x["id"]
            out.append({"id": rid, "parent_role_id": x["parent_role_id"], "name": x["name"], "active_flag": True,
                        "assignment_count": str(sum(1 for u in self.users if u["role_id"] == rid)),
                        "sub_role_count": str(sum(1 for y in self._roles if y["parent_role_id"] == rid)),
                        "level": x["level"]})
        return out

    def role(self, rid: int):
        """The role row {id, parent_role_id, name, level}, None for an unknown or deleted role."""
        return next((x for x in self._roles if x["id"] == rid), None)

    def role_assignments(self, rid: int) -> list:
        role = self.role(rid)
        return [{"user_id": u["id"], "role_id": rid, "parent_role_id": role["parent_role_id"], "name": role["name"],
                 "active_flag": u["active_flag"], "type": "1"} for u in self.users if u["role_id"] == rid]

    def role_settings(self, rid: int) -> dict:
        vis = 7 if rid == 1 else 3 if rid in (2, 5) else 1
        out = {"deal_default_visibility": vis, "lead_default_visibility": vis, "org_default_visibility": 3,
               "person_default_visibility": 3, "product_default_visibility": 3 if rid != 4 else 1,
               "deal_access_level": 7 if rid == 1 else 3, "org_access_level": 7 if rid == 1 else 3,
               "person_access_level": 7 if rid == 1 else 3, "product_access_level": 7 if rid == 1 else 1}
        return self._ref_apply_one("role_settings", rid, out)

    def role_pipelines(self, rid: int, visible: bool = True) -> dict:
        # a role created later sees every pipeline; a pipeline created later is visible to every role (inferred:
        # the UI's defaults for new visibility groups and new pipelines)
        shown, hidden = _ROLE_PIPELINES.get(rid, ([1, 2, 3], []))
        shown = list(shown) + [p["id"] for p in self.pipelines if p["id"] > 3]
        over = self._refs.get("role_pipelines", {}).get("over", {}).get(rid)
        if over:
            shown, hidden = over["shown"], over["hidden"]
        return {"pipeline_ids": list(shown if visible else hidden), "visible": visible}

    def permission_sets(self) -> list:
        return [{**ps, "assignment_count": len(self.permission_set_assignments(ps["id"]))} for ps in self._psets]

    def permission_set(self, psid: str):
        return next((ps for ps in self._psets if ps["id"] == psid), None)

    def permission_set_assignments(self, psid: str) -> list:
        """Users holding the set (from users[*].access); empty -> the endpoint answers 404 (openapi 404 text)."""
        ps = self.permission_set(psid)
        name = ps["name"] if ps else None
        return [{"user_id": u["id"], "permission_set_id": psid, "name": name}
                for u in self.users for a in u["access"] if a["permission_set_id"] == psid]

    def user_permissions(self, uid: int) -> dict:
        admin = any(a["admin"] for a in self.users[uid - 1]["access"])
        return {p: admin or p not in _REGULAR_DENIED for p in _PERMISSIONS}

    def user_role_assignments(self, uid: int) -> list:
        return [a for a in self.role_assignments(self.users[uid - 1]["role_id"]) if a["user_id"] == uid]

    def user_role_settings(self, uid: int) -> dict:
        return self.role_settings(self.users[uid - 1]["role_id"])

    def user_followers_v1(self, uid: int) -> list:
        return sorted(f["user_id"] for f in self.followers("users", uid))  # ascending like the example [2, 5, 8]

    def user_connections(self) -> dict:
        return {"google": f"emulated-{self.seed}-{hashlib.sha1(str(self.seed).encode()).hexdigest()[:12]}"}

    def user_settings(self) -> dict:
        return {"marketplace_team": False, "list_limit": 100, "beta_app": False,
                "prevent_salesphone_callto_override": False, "file_upload_destination": "s3",
                "callto_link_syntax": "callto:[number]", "autofill_deal_expected_close_date": True,
                "person_duplicate_condition": "name && (org_id || email || phone)"}

    def webhooks(self) -> list:
        base = self.start + 86400 * 400
        specs = ((1, "added", "deal", 1, None, None, "Deals → Data Warehouse"),
                 (2, "*", "person", 1, None, None, "Kontakte-Sync 🔄"),
                 (3, "deleted", "activity", 0, base + 86400 * 90, "Endpoint responded with 410", "Старый вебхук"))
        out = []
        for wid, action, obj, active, removed, reason, name in specs:
            out.append({"id": wid, "company_id": self.company_id, "owner_id": 1, "user_id": 1, "event_action": action,
                        "event_object": obj, "subscription_url": f"https://hooks.example.com/pipedrive/{wid}",
                        "version": "2.0" if wid != 3 else "1.0", "is_active": active, "add_time": _ms(base + wid * 3600),
                        "remove_time": _ms(removed) if removed else None, "type": "general" if wid != 2 else "application",
                        "http_auth_user": "sync" if wid == 2 else None, "http_auth_password": "••••••" if wid == 2 else None,
                        "remove_reason": reason, "last_delivery_time": _ms(base + 86400 * 30 + wid) if active else None,
                        "last_http_status": 200 if active else 410, "admin_id": 1, "name": name})
        return self._ref_apply("webhooks", out)

    def billing_addons(self) -> list:
        return [{"code": "leadbooster_v2"}, {"code": "smart_docs_v2"}, {"code": "campaigns_v2"}]

    def filter_helpers(self) -> dict:
        return loads(dumps(FILTER_HELPERS))

    # ---- goals (v1) -------------------------------------------------------------------------------------------
    def goals(self) -> list:
        """Every goal of the company (active and inactive, all assignees)."""
        hit = self._derived.get("goals")
        if hit is None:
            r = Random(f"{self.seed}:goals")
            titles = ("Q4 Abschlüsse", "Звонки в неделю", "新規商談", "Pipeline Nord", "Company ARR 🚀", "Demos",
                      "Neukunden – Süd", "Активности команды")
            specs = [(1, "person"), (1, "person"), (1, "person"), (self.company_id, "company"), (1, "team")]
            specs += [(u, "person") for u in range(2, self.n_users + 1)]
            hit = []
            for i, (aid, atype) in enumerate(specs):
                gtype = GOAL_TYPES[int(r.random() * 5)] if i else "deals_won"
                metric = "sum" if gtype in ("deals_won", "deals_started") and r.random() < 0.4 else "quantity"
                year = 2025 + int(r.random() * 2)
                params = {}
                if gtype.startswith("deals"):
                    params["pipeline_id"] = sorted({1 + int(r.random() * 3) for _ in range(1 + int(r.random() * 2))})
                    if gtype == "deals_progressed":
                        params["stage_id"] = 3
                else:
                    params["activity_type_id"] = sorted({1 + int(r.random() * 7) for _ in range(1 + int(r.random() * 2))})
                outcome = {"target": (10, 25, 50, 100, 250000)[int(r.random() * 5)] if metric == "quantity"
                           else 50000 + 10000 * int(r.random() * 20), "tracking_metric": metric}
                if metric == "sum":
                    outcome["currency_id"] = 1
                hit.append({
                    "id": hashlib.sha1(f"{self.seed}:goal:{i}".encode()).hexdigest()[:32], "owner_id": 1,
                    "title": titles[i % len(titles)], "type": {"name": gtype, "params": params},
                    "assignee": {"id": aid, "type": atype},
                    "interval": ("weekly", "monthly", "quarterly", "yearly")[int(r.random() * 4)],
                    "duration": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
                    "expected_outcome": outcome, "is_active": i != 2 and r.random() < 0.85,
                    "report_ids": [hashlib.md5(f"{self.seed}:report:{i}".encode()).hexdigest()],
                })
            self._derived["goals"] = hit
        return loads(dumps(self._ref_apply("goals", hit)))

    def goals_find(self, q: dict) -> list:
        """GET /v1/goals/find semantics on parsed parameters (values already validated by the handler).

        Without any "everyone" parameter only the caller's goals (assignee person 1, the token user) come back;
        `assignee.id` selects another user's goals; is_active defaults to true (openapi default), so inactive goals
        need is_active=false (inferred from the default).
        """
        goals = self.goals()
        everyone = any(k in q for k in GOAL_EVERYONE_PARAMS)
        if not everyone:
            who = q.get("assignee.id", 1)
            goals = [g for g in goals if g["assignee"]["type"] == "person" and g["assignee"]["id"] == who]
        elif "assignee.id" in q:
            goals = [g for g in goals if g["assignee"]["id"] == q["assignee.id"]]
        active = q.get("is_active", True)
        goals = [g for g in goals if g["is_active"] == active]
        if "type.name" in q:
            goals = [g for g in goals if g["type"]["name"] == q["type.name"]]
        if "assignee.type" in q:
            goals = [g for g in goals if g["assignee"]["type"] == q["assignee.type"]]
        if "title" in q:
            goals = [g for g in goals if g["title"] == q["title"]]
        if "expected_outcome.target" in q:
            goals = [g for g in goals if g["expected_outcome"]["target"] == q["expected_outcome.target"]]
        if "expected_outcome.tracking_metric" in q:
            goals = [g for g in goals if g["expected_outcome"]["tracking_metric"] == q["expected_outcome.tracking_metric"]]
        if "expected_outcome.currency_id" in q:
            goals = [g for g in goals if g["expected_outcome"].get("currency_id") == q["expected_outcome.currency_id"]]
        if "type.params.pipeline_id" in q:
            want = set(q["type.params.pipeline_id"])
            goals = [g for g in goals if want & set(g["type"]["params"].get("pipeline_id", ()))]
        if "type.params.stage_id" in q:
            goals = [g for g in goals if g["type"]["params"].get("stage_id") == q["type.params.stage_id"]]
        if "type.params.activity_type_id" in q:
            want = set(q["type.params.activity_type_id"])
            goals = [g for g in goals if want & set(g["type"]["params"].get("activity_type_id", ()))]
        if "period.start" in q:  # goals whose duration overlaps the period (inferred)
            goals = [g for g in goals if g["duration"]["start"] <= q["period.end"] and g["duration"]["end"] >= q["period.start"]]
        return goals

    def goal(self, gid: str):
        return next((g for g in self.goals() if g["id"] == gid), None)

    def goal_result(self, gid: str, start: str, end: str) -> dict:
        """GET /v1/goals/{id}/results data; progress is a deterministic function of (goal, period) (inferred)."""
        g = self.goal(gid)
        x = D._mix(int(hashlib.sha1(f"{gid}:{start}:{end}".encode()).hexdigest()[:12], 16))
        return {"goal": g, "progress": x % (g["expected_outcome"]["target"] + 1)}

    # ---- organization relationships (v1) -----------------------------------------------------------------------
    def _org_relationships(self) -> list:
        hit = self._derived.get("org-relationships")
        if hit is None:
            r = Random(f"{self.seed}:org-relationships")
            hit, seen = [], set()
            for _ in range(max(2, self.n_orgs // 8)):
                a, b = 1 + int(r.random() * self.n_orgs), 1 + int(r.random() * self.n_orgs)
                if a == b or (a, b) in seen or (b, a) in seen:
                    continue
                seen.add((a, b))
                ts = self.start + int(r.random() * self.span)
                hit.append({"id": len(hit) + 1, "type": "parent" if r.random() < 0.6 else "related", "owner": a,
                            "linked": b, "add": ts, "upd": ts + int(r.random() * 86400 * 90)})
            self._derived["org-relationships"] = hit
        return hit

    def org_relationships(self, oid: int) -> list:
        """GET /v1/organizationRelationships?org_id= items, seen from `oid` (calculated_* fields)."""
        out = []
        for rel in self._org_relationships():
            if oid not in (rel["owner"], rel["linked"]):
                continue
            other = rel["linked"] if oid == rel["owner"] else rel["owner"]
            if rel["type"] == "related":
                calc = "related"
            else:
                calc = "daughter" if oid == rel["owner"] else "parent"
            out.append({"id": rel["id"], "type": rel["type"], "rel_owner_org_id": self.org_ref(rel["owner"]),
                        "rel_linked_org_id": self.org_ref(rel["linked"]), "add_time": v1_time(rel["add"]),
                        "update_time": v1_time(rel["upd"]), "active_flag": "true", "calculated_type": calc,
                        "calculated_related_org_id": other, "related_organization_name": self.org_name(other)})
        return out

    # ---- recents (v1) -----------------------------------------------------------------------------------------
    def recent_rows(self, since_ts: int, items=None, now=None) -> list:
        """Sorted keys (ts, item, id, static object or None) of GET /v1/recents (see recents()); cheap to compute,
        so a page renders only its own objects."""
        now = int(self.clock()) if now is None else now
        lo = max(since_ts, now - MONTH)
        wanted = set(items or RECENT_ITEMS)
        rows = []
        for item, entity in _RECENT_TABLE.items():
            if item not in wanted:
                continue
            idx = self.index(entity, "update_time")
            for e in idx[bisect_left(idx, (lo + 1) << 32):]:
                rows.append((e >> 32, item, e & 0xFFFFFFFF, None))
        statics = []
        # files and filters deleted through reference.py stay in recents with active_flag false (inferred, §4.2)
        if "file" in wanted:
            statics += [("file", f["id"], f["update_time"], f) for f in self.files(with_deleted=True)]
        if "filter" in wanted:
            statics += [("filter", f["id"], f["update_time"], f) for f in self.filters(with_deleted=True)]
        if "activityType" in wanted:
            statics += [("activityType", a["id"], a["update_time"], a) for a in self.activity_types()]
        if "pipeline" in wanted:
            statics += [("pipeline", p["id"], t1(p["update_time"]), self.v1_pipeline(p)) for p in self.pipelines]
        if "stage" in wanted:
            statics += [("stage", s["id"], t1(s["update_time"]), self.v1_stage(s)) for s in self.stages]
        if "user" in wanted:
            statics += [("user", u["id"], u["modified"], u) for u in self.users]
        for item, rid, stamp, obj in statics:
            ts = calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
            if ts > lo:
                rows.append((ts, item, rid, obj))
        order = {name: i for i, name in enumerate(RECENT_ITEMS)}
        rows.sort(key=lambda x: (x[0], order[x[1]], x[2]))
        return rows

    def recent_item(self, row) -> dict:
        _, item, rid, obj = row
        if obj is not None:
            data = loads(dumps(obj))
        elif item == "note":
            data = self.note(rid)
        else:
            data = getattr(self, "v1_" + item)(rid)
        return {"item": item, "id": rid, "data": data}

    def recents(self, since_ts: int, items=None, now=None) -> list:
        """GET /v1/recents items changed after `since_ts` (exclusive), but never older than one month (§4.2).

        Ordered by update time ascending, then item type, then id (inferred). Deleted rows appear with their
        active_flag/deleted flags (inferred: deletion bumps update_time). Leads are not a recents item type.
        """
        return [self.recent_item(row) for row in self.recent_rows(since_ts, items, now)]

    # ---- truth catalogue --------------------------------------------------------------------------------------
    def catalogue_truth(self, name: str, parent_id=None, **kw):
        """What a complete read of data set `name` returns (see CATALOGUE). Per-parent data sets: with parent_id the
        list for that parent (None if the endpoint answers 404 for it), without it {parent_id: list} over every
        parent in `catalogue_parents(name)`."""
        parent, fn, _doc = CATALOGUE[name]
        with self.lock:
            if parent is None:
                return fn(self, **kw)
            if parent_id is not None:
                return fn(self, parent_id, **kw)
            return {pid: fn(self, pid, **kw) for pid in self.catalogue_parents(name)}

    def catalogue_parents(self, name: str) -> list:
        parent = CATALOGUE[name][0]
        if parent in ("deals", "persons", "organizations", "products", "notes", "users"):
            return self.alive_ids(parent)
        if parent == "projects":
            return [p["id"] for p in self._projects()["projects"] if p["status"] != "deleted"]
        if parent == "boards":
            return [b["id"] for b in self._projects()["boards"]]
        if parent == "mail_threads":
            return [th["id"] for th in self._mail()["threads"] if th["user_id"] == 1 and not th.get("deleted")]
        if parent == "roles":
            return [x["id"] for x in self._roles]
        if parent == "permission_sets":
            return list(self.permission_set_ids)
        if parent == "goals":
            return [g["id"] for g in self.goals()]
        raise KeyError(parent)


# name -> (parent data set or None, truth function, endpoint).
# Per-parent data sets: catalogue_truth(name, pid) is what the endpoint returns for that parent (all pages, in order);
# catalogue_truth(name) is {pid: list} over catalogue_parents(name): the ids a connector iterating the parent stream
# sees (deals: /deals + /deals/archived, i.e. every non-deleted deal; persons/organizations/products/notes: not
# deleted; users: all of /v1/users; projects: not status=deleted; mail_threads: the token user's threads; roles,
# permission_sets, goals, boards: all). Soft-deleted parents still answer their child endpoints; unknown ids are 404.
# An empty list means "the endpoint answers 404" for product_images and permission_set_assignments (documented /
# inferred quirks), and `data: null` for the legacy v1 feeds (flow, participants, mail messages, note comments,
# organization relationships).
CATALOGUE = {
    # -- API v2
    "deal_followers_changelog": ("deals", lambda ds, i: ds.followers_changelog("deals", i),
                                 "GET /api/v2/deals/{id}/followers/changelog"),
    "person_followers_changelog": ("persons", lambda ds, i: ds.followers_changelog("persons", i),
                                   "GET /api/v2/persons/{id}/followers/changelog"),
    "organization_followers_changelog": ("organizations", lambda ds, i: ds.followers_changelog("organizations", i),
                                         "GET /api/v2/organizations/{id}/followers/changelog"),
    "product_followers_changelog": ("products", lambda ds, i: ds.followers_changelog("products", i),
                                    "GET /api/v2/products/{id}/followers/changelog"),
    "deal_discounts": ("deals", lambda ds, i: ds.deal_discounts(i), "GET /api/v2/deals/{id}/discounts"),
    # batch endpoint: the response for deal_ids=a,b,... is the concatenation sorted by sort_by (default id)
    "deal_installments": ("deals", lambda ds, i: ds.deal_installments(i),
                          "GET /api/v2/deals/installments?deal_ids= (≤100 ids; use limit=500, no next_cursor)"),
    "product_images": ("products", lambda ds, i: [x for x in [ds.product_image(i)] if x],
                       "GET /api/v2/products/{id}/images (data object; 404 when [])"),
    # projects: default statuses are open/completed/canceled; status=deleted (or a list) via the `status` keyword
    "projects": (None, lambda ds, status=None: [p for p in ds.projects() if p["archive_time"] is None and (
        p["status"] in status if status else p["status"] != "deleted")], "GET /api/v2/projects"),
    "archived_projects": (None, lambda ds, status=None: [p for p in ds.projects() if p["archive_time"] is not None and (
        p["status"] in status if status else p["status"] != "deleted")], "GET /api/v2/projects/archived"),
    "project_templates": (None, lambda ds: ds.project_templates(), "GET /api/v2/projectTemplates"),
    "project_fields": (None, lambda ds: ds.project_fields(), "GET /api/v2/projectFields"),
    "project_changelog": ("projects", lambda ds, i: ds.project_changelog(i), "GET /api/v2/projects/{id}/changelog"),
    "project_permitted_users": ("projects", lambda ds, i: ds.project_permitted_users(i),
                                "GET /api/v2/projects/{id}/permittedUsers"),
    "tasks": (None, lambda ds: ds.tasks(), "GET /api/v2/tasks"),
    "boards": (None, lambda ds: ds.boards(), "GET /api/v2/boards"),
    "phases": ("boards", lambda ds, i: ds.phases(i), "GET /api/v2/phases?board_id="),
    # -- API v1
    "deal_flow": ("deals", lambda ds, i, all_changes=False, items=None: ds.flow("deals", i, all_changes, items),
                  "GET /v1/deals/{id}/flow"),
    "person_flow": ("persons", lambda ds, i, all_changes=False, items=None: ds.flow("persons", i, all_changes, items),
                    "GET /v1/persons/{id}/flow"),
    "organization_flow": ("organizations", lambda ds, i, all_changes=False, items=None: ds.flow(
        "organizations", i, all_changes, items), "GET /v1/organizations/{id}/flow"),
    "deal_changelog": ("deals", lambda ds, i: ds.changelog("deals", i), "GET /v1/deals/{id}/changelog"),
    "person_changelog": ("persons", lambda ds, i: ds.changelog("persons", i), "GET /v1/persons/{id}/changelog"),
    "organization_changelog": ("organizations", lambda ds, i: ds.changelog("organizations", i),
                               "GET /v1/organizations/{id}/changelog"),
    "deal_participants": ("deals", lambda ds, i: ds.deal_participants(i), "GET /v1/deals/{id}/participants"),
    "deal_participants_changelog": ("deals", lambda ds, i: ds.participants_changelog(i),
                                    "GET /v1/deals/{id}/participantsChangelog"),
    "deal_mail_messages": ("deals", lambda ds, i, include_body=False: ds.mail_messages("deals", i, include_body),
                           "GET /v1/deals/{id}/mailMessages"),
    "person_mail_messages": ("persons", lambda ds, i, include_body=False: ds.mail_messages("persons", i, include_body),
                             "GET /v1/persons/{id}/mailMessages"),
    "organization_mail_messages": ("organizations", lambda ds, i, include_body=False: ds.mail_messages(
        "organizations", i, include_body), "GET /v1/organizations/{id}/mailMessages"),
    # all four folders together without `folder`; the endpoint needs folder=inbox|drafts|sent|archive
    "mail_threads": (None, lambda ds, folder=None: ds.mail_threads(folder), "GET /v1/mailbox/mailThreads?folder="),
    "mail_thread_messages": ("mail_threads", lambda ds, i: ds.mail_thread_messages(i),
                             "GET /v1/mailbox/mailThreads/{id}/mailMessages"),
    "note_comments": ("notes", lambda ds, i: ds.note_comments(i), "GET /v1/notes/{id}/comments"),
    "roles": (None, lambda ds: ds.roles(), "GET /v1/roles"),
    "role_assignments": ("roles", lambda ds, i: ds.role_assignments(i), "GET /v1/roles/{id}/assignments"),
    "role_settings": ("roles", lambda ds, i: ds.role_settings(i), "GET /v1/roles/{id}/settings (object)"),
    "role_pipelines": ("roles", lambda ds, i, visible=True: ds.role_pipelines(i, visible),
                       "GET /v1/roles/{id}/pipelines?visible= (object)"),
    "permission_sets": (None, lambda ds: ds.permission_sets(), "GET /v1/permissionSets"),
    "permission_set_assignments": ("permission_sets", lambda ds, i: ds.permission_set_assignments(i),
                                   "GET /v1/permissionSets/{id}/assignments (404 when [])"),
    "user_permissions": ("users", lambda ds, i: ds.user_permissions(i), "GET /v1/users/{id}/permissions (object)"),
    "user_role_assignments": ("users", lambda ds, i: ds.user_role_assignments(i),
                              "GET /v1/users/{id}/roleAssignments"),
    "user_role_settings": ("users", lambda ds, i: ds.user_role_settings(i),
                           "GET /v1/users/{id}/roleSettings (object)"),
    "user_followers": ("users", lambda ds, i: ds.user_followers_v1(i), "GET /v1/users/{id}/followers (user ids)"),
    "user_connections": (None, lambda ds: ds.user_connections(), "GET /v1/userConnections (object)"),
    "user_settings": (None, lambda ds: ds.user_settings(), "GET /v1/userSettings (object)"),
    "webhooks": (None, lambda ds: ds.webhooks(), "GET /v1/webhooks"),
    "billing_addons": (None, lambda ds: ds.billing_addons(), "GET /v1/billing/subscriptions/addons"),
    "filter_helpers": (None, lambda ds: ds.filter_helpers(), "GET /v1/filters/helpers (object)"),
    # every goal; a full read needs the "everyone" rule: e.g. assignee.type in person/company/team x is_active
    # true/false (goals_find() holds the exact filter semantics)
    "goals": (None, lambda ds: ds.goals(), "GET /v1/goals/find"),
    "goal_results": ("goals", lambda ds, i, start=None, end=None: ds.goal_result(
        i, start or ds.goal(i)["duration"]["start"], end or ds.goal(i)["duration"]["end"]),
        "GET /v1/goals/{id}/results?period.start=&period.end= (object; default period = the goal's duration)"),
    "organization_relationships": ("organizations", lambda ds, i: ds.org_relationships(i),
                                   "GET /v1/organizationRelationships?org_id="),
    # since_timestamp / now as epoch seconds; the one-month window is applied relative to `now` (default: the clock)
    "recents": (None, lambda ds, since_timestamp=0, items=None, now=None: ds.recents(since_timestamp, items, now),
                "GET /v1/recents?since_timestamp="),
}
