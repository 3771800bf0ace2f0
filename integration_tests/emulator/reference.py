"""Changes to reference data, as Pipedrive's own write endpoints (or, where the API has none, the admin UI) leave them.

    ds.change_reference(kind, rid=None) -> id     edit one item (rid None: a deterministic pick)
    ds.add_reference(kind, parent=None) -> id     create one item (`parent`: for child kinds, where to add it)
    ds.delete_reference(kind, rid) -> id          what the documented DELETE leaves behind

Mixed into data.Dataset; also Emulator.change_reference/... and POST /_emulator/reference/{change,add,delete}.
Every change is stamped with the dataset's clock.

Mechanism (one for all kinds): lists that are computed on demand (activity types, files, filters, call logs,
webhooks, goals, product variations and images, user followers, role settings/pipelines) get a per-kind store
{"over": {id: {field: value}}, "added": [items], "gone": {ids}} that `_ref_apply` / `_ref_children` lay over the
generated list whenever it is rendered; lists that are kept as rows (users, pipelines, stages, lead labels, roles,
permission sets, boards, phases, projects, project templates, tasks, mail threads) are edited in place -- ids never
move. An edit changes the kind's name field (" ✎n" appended) and stamps its own timestamp field, if it has one
(EDITABLE). Every list endpoint, single GET, /v1/recents and the truth functions read the same data, so a change is
visible everywhere at once.

Semantics per kind ("(inferred)" = the docs leave it open):
- users: edit = the user renames themself in the UI (PUT /v1/users only updates active_flag; inferred); add = POST
  /v1/users (role 1, regular sales/global sets; inferred); delete = deactivation (active_flag false, modified bumped):
  users cannot be deleted. User 1 (the token user) cannot be deactivated here (inferred: its token would stop).
- activity_types: delete = stays listed with active_flag false (deleteActivityType "Marks ... as deleted").
- files, filters: delete = no longer listed; /v1/recents keeps them as active_flag false with the delete time
  (inferred: Fivetran reads file deletions from recents, §4.2). New files hang on activity 1 (inferred: no count
  or flow of a deal/person/org moves).
- pipelines, stages: soft delete as delete_records (is_deleted, not listed by v2, in recents as inactive).
  New pipelines get no stages (inferred) and are visible to every role (inferred).
- roles: no timestamp; delete = no longer listed, its users move to role 1 (the default role, as DELETE
  /roles/{id}/assignments documents for an assignment) and its sub-roles to its parent (inferred); role 1 cannot
  be deleted (inferred).
- permission_sets (no write API: the admin UI; inferred): edit renames, add creates a custom "sales" set, delete
  only custom sets -- their holders fall back to the app's regular set (inferred).
- goals: no timestamp; delete = gone from /v1/goals/find and /goals/{id}/results 404 (deleteGoal "Marks ... as
  deleted"; inferred). currencies, lead_sources, note_fields, lead_fields: ValueError (see REFUSED).
- lead_labels: delete = gone (deleteLeadLabel), and leads stop listing it in label_ids without an update_time bump
  (inferred).
- boards, phases, tasks, project_templates: delete = gone (their "Marks ... as deleted" leaves nothing listable;
  inferred); a board takes its phases along, a task its subtasks (documented for tasks). Project templates have no
  write API: admin UI (inferred).
- projects: delete = status "deleted" (v2 lists it only with status=deleted); edit/delete append to
  /projects/{id}/changelog (inferred entry shape: as the seeded ones, change_source api, actor user 1).
- webhooks: no update operation (change raises); delete = gone. call_logs: no update operation either, so an edit
  attaches a recording (POST /callLogs/{id}/recordings: has_recording true); delete = gone.
- mail_threads: edit = a new incoming message (at the clock's now): the thread moves to the top of its folder and its
  update_time / last_message_* change; add = a new inbox thread from an outside sender; delete = gone from the
  folders, /mailThreads/{id}/mailMessages 404 and its messages gone from deal/person/org mail (inferred).
- product_variations, product_images: children of a product; the parent's update_time does NOT move (the v2
  variation/image operations document nothing of the kind; inferred). An image edit (PUT) keeps the id (= the
  product id here) and sets a new file, name and add_time (today; inferred).
- user_followers, user_permissions, user_role_assignments, role_assignments, permission_set_assignments: edits of
  the users' follows, access and role_id; each bumps the `modified` of the user whose record or child changed
  (inferred). rid/parent = the parent (user id, role id, permission set id); the child is picked deterministically.
- role_settings, role_pipelines: change only (a fixed object per role): the default visibility cycles 1->3->5->7,
  one pipeline flips between visible and hidden.
- deal_fields, person_fields, organization_fields, product_fields: add a custom field (varchar; no record has a value
  yet: v2 custom_fields carry it as null, v1 omits it, as for every unset field here), rename one (field_name;
  the v1 item's update_time moves; keys never change, §2.5), delete one (gone from both Fields APIs and its values
  from every record, deal fields also from leads / leadFields). No record's update_time moves (inferred: a
  definition change is not a record edit).
"""
from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_right
from random import Random

from . import fields as F
from .common import date_str, ms_time, v1_time, v2_time


def _ms(ts):
    return ms_time(ts * 1000)


# kind -> (name field an edit changes, own timestamp field or None, its format)
EDITABLE = {
    "users": ("name", "modified", v1_time), "activity_types": ("name", "update_time", v1_time),
    "files": ("name", "update_time", v1_time), "filters": ("name", "update_time", v1_time),
    "pipelines": ("name", "update_time", v2_time), "stages": ("name", "update_time", v2_time),
    "roles": ("name", None, None), "permission_sets": ("name", None, None), "goals": ("title", None, None),
    "lead_labels": ("name", "update_time", _ms), "boards": ("name", "update_time", _ms),
    "phases": ("name", "update_time", _ms), "projects": ("title", "update_time", _ms),
    "project_templates": ("title", "update_time", _ms), "tasks": ("title", "update_time", _ms),
    "product_variations": ("name", None, None),
}
FIELD_KINDS = {"deal_fields": "deals", "person_fields": "persons", "organization_fields": "organizations",
               "product_fields": "products"}
KINDS = tuple(EDITABLE) + ("currencies", "lead_sources", "webhooks", "call_logs", "mail_threads", "product_images",
                           "user_followers", "user_permissions", "user_role_assignments", "role_assignments",
                           "role_settings", "role_pipelines", "permission_set_assignments") + tuple(FIELD_KINDS) + (
    "note_fields", "lead_fields")

_ALL = ("change", "add", "delete")
# (kind, operation) -> why it raises ValueError
REFUSED = {
    **{("currencies", op): "currencies are read-only: GET /v1/currencies is the API's only currencies operation, "
                           "so nothing can create, delete or observably change one" for op in _ALL},
    **{("lead_sources", op): "lead sources are a fixed list Pipedrive maintains: GET /v1/leadSources is the only "
                             "operation" for op in _ALL},
    **{("note_fields", op): "note fields are fixed: GET /v1/noteFields is the only operation" for op in _ALL},
    **{("lead_fields", op): "leads use the deal custom fields (CF): change deal_fields, and /v1/leadFields and the "
                            "leads follow" for op in _ALL},
    ("webhooks", "change"): "webhooks have no update operation (POST and DELETE /v1/webhooks only)",
    ("user_followers", "change"): "a follower entry has no editable field: add or delete one",
    ("role_assignments", "change"): "a role assignment has no editable field: add or delete one",
    ("permission_set_assignments", "change"): "an assignment has no editable field: add or delete one",
    ("user_permissions", "add"): "permissions are one fixed object per user: change flips the user's sets",
    ("user_permissions", "delete"): "permissions are one fixed object per user: change flips the user's sets",
    ("user_role_assignments", "add"): "a user always holds exactly one role: change moves the user",
    ("user_role_assignments", "delete"): "a user always holds exactly one role: change moves the user",
    ("role_settings", "add"): "role settings are one fixed object per role: change only",
    ("role_settings", "delete"): "role settings are one fixed object per role: change only",
    ("role_pipelines", "add"): "role pipelines are one fixed object per role: change only",
    ("role_pipelines", "delete"): "role pipelines are one fixed object per role: change only",
}


def _lazy_v1_fields(ds, entity):
    from .api_v1 import v1_fields  # api_v1 imports data, which imports this module
    return v1_fields(ds, entity)


def _lazy_note_fields():
    from .api_v1 import note_field_items
    return note_field_items()


class ReferenceMixin:
    # Dataset.truth(kind) for the reference kinds the catalogue does not hold: {id: item} as the list serves it
    REFERENCE_TRUTH = {
        "activity_types": lambda ds: {x["id"]: x for x in ds.activity_types()},
        "files": lambda ds: {x["id"]: x for x in ds.files()},
        "filters": lambda ds: {x["id"]: x for x in ds.filters()},
        "call_logs": lambda ds: {x["id"]: x for x in ds.call_logs()},
        "currencies": lambda ds: {x["id"]: x for x in ds.currencies()},
        "lead_labels": lambda ds: {x["id"]: x for x in ds.lead_labels},
        "lead_sources": lambda ds: {x["name"]: x for x in ds.lead_sources()},
        "product_variations": lambda ds: {p: ds.variations(p) for p in ds.alive_ids("products")},
        **{k: (lambda e: lambda ds: {it["field_code"]: it for it in F.v2_field_items(e, ds.custom[e])})(e)
           for k, e in FIELD_KINDS.items()},
        "lead_fields": lambda ds: {it["key"]: it for it in _lazy_v1_fields(ds, "leads")},
        "note_fields": lambda ds: {it["key"]: it for it in _lazy_note_fields()},
    }

    def _init_reference(self) -> None:
        self._refs: dict = {}  # kind -> {"over": {}, "added": [], "gone": set()}
        self._ref_seq = 0
        self._fields_touched: set = set()  # entities whose custom field definitions changed
        self._lead_labels_removed: set = set()
        self._project_base: dict = {}  # project id -> the project as generated (seeded changelog)
        self._project_log: dict = {}  # project id -> [changelog entries, oldest first]
        self._project_added: set = set()
        self._files_version = 0
        self._materialised = False

    # ---- the generic store ----------------------------------------------------------------------------------
    def _store(self, kind: str) -> dict:
        return self._refs.setdefault(kind, {"over": {}, "added": [], "gone": set()})

    def _ref_apply(self, kind: str, items: list, keep_gone: bool = False, key: str = "id") -> list:
        """`items` with the kind's edits laid over, additions appended and removals dropped (unless keep_gone)."""
        st = self._refs.get(kind)
        if not st:
            return items
        out = []
        for it in items + st["added"]:
            k = it[key]
            if k in st["gone"] and not keep_gone:
                continue
            ov = st["over"].get(k)
            out.append({**it, **ov} if ov else it)
        return out

    def _ref_apply_one(self, kind: str, rid, obj: dict) -> dict:
        ov = self._refs.get(kind, {}).get("over", {}).get(rid)
        return {**obj, **ov} if ov else obj

    def _ref_children(self, kind: str, parent, items: list, key: str = "id") -> list:
        """Like _ref_apply for one parent's children: over/gone keyed by (parent, key), added as (parent, item)."""
        st = self._refs.get(kind)
        if not st:
            return items
        out = []
        for it in items + [it for p, it in st["added"] if p == parent]:
            k = (parent, it[key])
            if k in st["gone"]:
                continue
            ov = st["over"].get(k)
            out.append({**it, **ov} if ov else it)
        return out

    def _rows(self, kind: str):
        """The mutable rows of the kinds kept as rows (None for the computed ones)."""
        if kind in ("users", "pipelines", "stages", "lead_labels"):
            return getattr(self, kind)
        if kind == "roles":
            return self._roles
        if kind == "permission_sets":
            return self._psets
        if kind in ("boards", "phases", "projects", "tasks"):
            return self._projects()[kind]
        if kind == "project_templates":
            return self._projects()["templates"]
        return None

    def _listed(self, kind: str) -> list:
        """The items a client sees now (for picks and lookups)."""
        if kind in ("pipelines", "stages"):
            return [x for x in self._rows(kind) if not x["is_deleted"]]
        if kind == "projects":
            return [x for x in self._rows(kind) if x["status"] != "deleted"]
        rows = self._rows(kind)
        if rows is not None:
            return rows
        if kind == "product_variations":
            return [v for p in self.alive_ids("products") for v in self.variations(p)]
        return {"activity_types": self.activity_types, "files": self.files, "filters": self.filters,
                "goals": self.goals, "webhooks": self.webhooks, "call_logs": self.call_logs}[kind]()

    def _ref_write(self, kind: str, rid, fields: dict) -> None:
        rows = self._rows(kind)
        if rows is not None:
            self._find(kind, rid).update(fields)
        elif kind == "product_variations":
            self._store(kind)["over"].setdefault((self._variation_parent(rid), rid), {}).update(fields)
        else:
            self._store(kind)["over"].setdefault(rid, {}).update(fields)

    def _find(self, kind: str, rid):
        item = next((x for x in (self._rows(kind) or self._listed(kind)) if x["id"] == rid), None)
        if item is None:
            raise ValueError(f"no {kind} item with id {rid!r}")
        return item

    def _pick(self, kind: str, items: list, what: str = "item"):
        if not items:
            raise ValueError(f"no {kind} {what} to pick")
        return items[Random(f"{self.seed}:ref:{kind}:{self._ref_seq}").randrange(len(items))]

    def _now(self) -> int:
        return int(self.clock())

    def _tag(self, text: str) -> str:
        return f"{(text or '').split(' ✎')[0]} ✎{self._ref_seq}"

    def _next_id(self, kind: str) -> int:
        rows = self._rows(kind)
        if rows is not None:
            return max((x["id"] for x in rows), default=0) + 1
        st = self._store(kind)
        base = {"activity_types": self.activity_types, "files": self.files, "filters": self.filters,
                "webhooks": self.webhooks}[kind]
        seen = [x["id"] for x in base()] + [x["id"] for x in st["added"]] + [i for i in st["gone"]]
        return max(seen, default=0) + 1

    def _touch_user(self, uid: int, now: int) -> None:
        self.users[uid - 1]["modified"] = v1_time(now)

    def _materialise(self) -> None:
        # lazily generated data sets read some mutable state (user names): build them before the first change so
        # they stay as they were generated
        if not self._materialised:
            self._materialised = True
            self._mail(), self._projects(), self.goals()

    # ---- public operations ------------------------------------------------------------------------------------
    def change_reference(self, kind: str, rid=None):
        return self._ref_op("change", kind, rid)

    def add_reference(self, kind: str, parent=None):
        return self._ref_op("add", kind, parent)

    def delete_reference(self, kind: str, rid):
        return self._ref_op("delete", kind, rid)

    def _ref_op(self, op: str, kind: str, arg):
        if kind not in KINDS:
            raise ValueError(f"unknown reference kind {kind!r}; one of {', '.join(KINDS)}")
        if (kind, op) in REFUSED:
            raise ValueError(f"{op} {kind}: {REFUSED[kind, op]}")
        if op == "delete" and arg is None:
            raise ValueError("delete_reference needs the id of the item to delete")
        with self.lock:
            self._materialise()
            self._ref_seq += 1
            now = self._now()
            if kind in FIELD_KINDS:
                return getattr(self, f"_{op}_field")(FIELD_KINDS[kind], arg, now)
            special = getattr(self, f"_{op}_{kind}", None)
            if special is not None:
                return special(arg, now)
            return getattr(self, f"_generic_{op}")(kind, arg, now)

    # ---- generic change / delete ------------------------------------------------------------------------------
    def _generic_change(self, kind: str, rid, now: int):
        name_f, time_f, fmt = EDITABLE[kind]
        item = self._find(kind, rid) if rid is not None else self._pick(kind, self._listed(kind))
        rid, before = item["id"], dict(item)
        fields = {name_f: self._tag(item[name_f])}
        if time_f:
            fields[time_f] = fmt(now)
        self._ref_write(kind, rid, fields)
        self._after_change(kind, rid, before, fields, now)
        return rid

    def _after_change(self, kind, rid, before, fields, now) -> None:
        if kind == "users":
            self.tables["notes"].cache.clear()  # notes embed their user's name
        elif kind == "projects":
            self._log_project(rid, before, fields, now)
        elif kind == "files":
            self._derived.pop("files", None)  # the applied list is cached (counts.py memoises per version)

    def _generic_delete(self, kind: str, rid, now: int):
        """No longer listed (computed lists: into "gone"; rows: removed)."""
        self._find(kind, rid)
        rows = self._rows(kind)
        if rows is not None:
            rows[:] = [x for x in rows if x["id"] != rid]
        else:
            self._store(kind)["gone"].add(rid)
        return rid

    # ---- per-kind deletes -------------------------------------------------------------------------------------
    def _delete_users(self, rid, now):
        if rid == 1:
            raise ValueError("user 1 is the token user: deactivating it would end the API access (inferred)")
        self._find("users", rid).update(active_flag=False, modified=v1_time(now))  # PUT /v1/users active_flag
        return rid

    def _delete_activity_types(self, rid, now):
        self._find("activity_types", rid)
        self.delete_records("activity_types", [rid])
        return rid

    def _delete_pipelines(self, rid, now):
        self._find("pipelines", rid)
        self.delete_records("pipelines", [rid])
        return rid

    def _delete_stages(self, rid, now):
        self._find("stages", rid)
        self.delete_records("stages", [rid])
        return rid

    def _tombstone(self, kind, rid, now):
        self._find(kind, rid)
        self._ref_write(kind, rid, {"active_flag": False, "update_time": v1_time(now)})
        self._store(kind)["gone"].add(rid)
        self._derived.pop(kind, None)
        return rid

    def _delete_files(self, rid, now):
        return self._tombstone("files", rid, now)

    def _delete_filters(self, rid, now):
        return self._tombstone("filters", rid, now)

    def _delete_projects(self, rid, now):
        p = self._find("projects", rid)
        if p["status"] == "deleted":
            raise ValueError(f"project {rid} is already deleted")
        fields = {"status": "deleted", "update_time": _ms(now), "status_change_time": _ms(now)}
        self._log_project(rid, p, fields, now)
        p.update(fields)
        return rid

    def _delete_tasks(self, rid, now):
        self._find("tasks", rid)
        tasks, doomed = self._projects()["tasks"], {rid}
        while True:  # "If the task has subtasks, those will also be deleted" (deleteTask)
            more = {t["id"] for t in tasks if t["parent_task_id"] in doomed} - doomed
            if not more:
                break
            doomed |= more
        tasks[:] = [t for t in tasks if t["id"] not in doomed]
        return rid

    def _delete_boards(self, rid, now):
        self._generic_delete("boards", rid, now)
        phases = self._projects()["phases"]
        phases[:] = [p for p in phases if p["board_id"] != rid]
        return rid

    def _delete_lead_labels(self, rid, now):
        self._generic_delete("lead_labels", rid, now)
        self._lead_labels_removed.add(rid)
        self.tables["leads"].cache.clear()
        return rid

    def _live_lead_labels(self, ids: list) -> list:
        return [i for i in ids if i not in self._lead_labels_removed] if self._lead_labels_removed else ids

    def _delete_roles(self, rid, now):
        role = self._find("roles", rid)
        if rid == 1:
            raise ValueError("role 1 is the default role users fall back to: it cannot be deleted (inferred)")

        def lift(x):  # a sub-role moves up one level with its whole subtree
            x["level"] -= 1
            for y in self._roles:
                if y["parent_role_id"] == x["id"]:
                    lift(y)
        for x in [y for y in self._roles if y["parent_role_id"] == rid]:
            x["parent_role_id"] = role["parent_role_id"]
            lift(x)
        self._roles[:] = [x for x in self._roles if x["id"] != rid]
        for u in self.users:
            if u["role_id"] == rid:
                u["role_id"] = 1
                self._touch_user(u["id"], now)
        return rid

    def _set_of(self, app: str, typ: str):
        return next((p for p in self._psets if p["app"] == app and p["type"] == typ), None)

    def _delete_permission_sets(self, rid, now):
        ps = self._find("permission_sets", rid)
        if ps["type"] != "custom":
            raise ValueError("only custom permission sets can be deleted (inferred: the default sets are fixed)")
        for u in self.users:
            if any(a["permission_set_id"] == rid for a in u["access"]):
                self._drop_set(u, rid)
                self._touch_user(u["id"], now)
        self._psets[:] = [p for p in self._psets if p["id"] != rid]
        return rid

    def _drop_set(self, u: dict, psid: str) -> None:
        """The user loses `psid`; an admin or custom set falls back to the app's regular set (inferred)."""
        ps = self.permission_set(psid)
        regular = self._set_of(ps["app"], "regular") if ps["type"] != "regular" else None
        access = []
        for a in u["access"]:
            if a["permission_set_id"] != psid:
                access.append(a)
            elif regular is not None:
                access.append({"app": a["app"], "admin": False, "permission_set_id": regular["id"]})
        u["access"] = access

    # ---- per-kind changes -------------------------------------------------------------------------------------
    def _change_call_logs(self, rid, now):
        logs = self.call_logs()
        if rid is None:
            rid = self._pick("call_logs", [c for c in logs if not c["has_recording"]] or logs)["id"]
        self._find("call_logs", rid)
        self._ref_write("call_logs", rid, {"has_recording": True})  # POST /v1/callLogs/{id}/recordings
        return rid

    def _change_product_images(self, rid, now):
        if rid is None:
            rid = self._pick("product_images", [p for p in self.alive_ids("products") if self.product_image(p)])
        if self.product_image(rid) is None:
            raise ValueError(f"product {rid} has no image to update")
        r = Random(f"{self.seed}:ref-image:{self._ref_seq}")
        self._store("product_images")["over"][rid] = self._image_fields(r, now)
        return rid

    def _image_fields(self, r: Random, now: int) -> dict:
        u = uuid.UUID(int=r.getrandbits(128), version=4)
        return {"public_url": f"https://{self.company_domain}.pipedrive.com/product-images/{u}.png",
                "add_time": date_str(now), "mime_type": "image/png", "name": f"neues-bild-{self._ref_seq}.png"}

    def _change_mail_threads(self, rid, now):
        mail = self._mail()
        if rid is None:
            inbox = self.mail_thread_ids("inbox")
            rid = inbox[-1] if inbox else self._pick("mail_threads", self.mail_thread_ids(None), "thread")
        if self.mail_thread_owner(rid) is None:
            raise ValueError(f"no mail thread {rid}")
        th = mail["threads"][rid - 1]
        first = mail["messages"][th["messages"][0] - 1]
        other = dict(first["to"][0] if first["outgoing"] else first["from"][0])
        self._new_message(th, other, now, "Re: " + th["subject"])
        return rid

    def _new_message(self, th: dict, other: dict, now: int, subject: str) -> None:
        """An incoming message in thread `th` at `now` (party ids: 2 per message, as _gen_mail_messages)."""
        mail = self._mail()
        mid = len(mail["messages"]) + 1
        u = self.users[th["user_id"] - 1]
        me = {"id": 2 * mid - 1, "email_address": u["email"], "name": u["name"], "linked_person_id": None,
              "linked_person_name": "", "mail_message_party_id": 2 * mid - 1, "linked_organization_id": None}
        other.update(id=2 * mid, mail_message_party_id=2 * mid)
        mail["messages"].append({
            "id": mid, "thread_id": th["id"], "from": [other], "to": [me], "cc": [], "bcc": [], "user_id": th["user_id"],
            "ts": now, "outgoing": False, "draft": False, "subject": subject, "snippet": "Neue Nachricht ✉",
            "read": 0, "tracking": None, "attachments": 0, "template_id": None,
            "body": "<p>Neue Nachricht / новое сообщение</p>"})
        th["messages"].append(mid)
        self._mail_changed()

    def _mail_changed(self) -> None:
        mail = self._mail()
        for key in [k for k in mail if isinstance(k, tuple)]:  # folder orders and per-record mail stats
            del mail[key]
        mail["by"] = self._mail_links(mail["threads"])

    def _change_user_permissions(self, rid, now):
        """Flip the user between admin and regular sets of sales/global (admin UI; inferred)."""
        if rid is None:
            rid = 2 if len(self.users) > 1 else 1
        u = self._find("users", rid)
        admin = any(a["admin"] for a in u["access"])
        access = []
        for a in u["access"]:
            if a["app"] in ("sales", "global"):
                ps = self._set_of(a["app"], "regular" if admin else "admin")
                access.append({"app": a["app"], "admin": not admin, "permission_set_id": ps["id"]})
            elif not (admin and a["admin"]):  # an admin-only app (account settings) goes with the admin rights
                access.append(a)
        u["access"] = access
        self._touch_user(rid, now)
        return rid

    def _change_user_role_assignments(self, rid, now):
        if rid is None:
            rid = self._pick("user_role_assignments", [u["id"] for u in self.users])
        u = self._find("users", rid)
        ids = [x["id"] for x in self._roles]
        if len(ids) < 2:
            raise ValueError("only one role exists")
        u["role_id"] = ids[(ids.index(u["role_id"]) + 1) % len(ids)] if u["role_id"] in ids else ids[0]
        self._touch_user(rid, now)
        return rid

    def _change_role_settings(self, rid, now):
        if rid is None:
            rid = self._pick("role_settings", [x["id"] for x in self._roles])
        self._find("roles", rid)
        vis = self.role_settings(rid)["deal_default_visibility"]
        nxt = {1: 3, 3: 5, 5: 7, 7: 1}[vis]
        self._store("role_settings")["over"].setdefault(rid, {}).update(
            deal_default_visibility=nxt, lead_default_visibility=nxt)  # POST /v1/roles/{id}/settings
        return rid

    def _change_role_pipelines(self, rid, now):
        if rid is None:
            rid = self._pick("role_pipelines", [x["id"] for x in self._roles])
        self._find("roles", rid)
        shown, hidden = self.role_pipelines(rid, True)["pipeline_ids"], self.role_pipelines(rid, False)["pipeline_ids"]
        if len(shown) > 1:
            shown, hidden = shown[:-1], sorted(hidden + shown[-1:])
        elif hidden:
            shown, hidden = sorted(shown + hidden[:1]), hidden[1:]
        else:
            raise ValueError("a single pipeline cannot be hidden from its only role view")
        self._store("role_pipelines")["over"][rid] = {"shown": shown, "hidden": hidden}  # PUT /roles/{id}/pipelines
        return rid

    # ---- per-kind additions -----------------------------------------------------------------------------------
    def _add_users(self, parent, now):
        uid = len(self.users) + 1
        sales, glob = self._set_of("sales", "regular"), self._set_of("global", "regular")
        self.users.append({
            "id": uid, "name": f"Neu Nutzer {self._ref_seq}", "default_currency": "EUR", "locale": "en_US",
            "lang": 1, "email": f"user{uid}@{self.company_domain}.example", "phone": None, "activated": True,
            "last_login": v1_time(now), "created": v1_time(now), "modified": v1_time(now),
            "has_created_company": False,
            "access": [{"app": "sales", "admin": False, "permission_set_id": sales["id"]},
                       {"app": "global", "admin": False, "permission_set_id": glob["id"]}],
            "active_flag": True, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00", "role_id": 1,
            "icon_url": None, "is_you": False, "is_deleted": False})
        return uid

    def _add_computed(self, kind: str, item: dict):
        self._store(kind)["added"].append(item)
        self._derived.pop(kind, None)
        return item["id"]

    def _add_activity_types(self, parent, now):
        aid = self._next_id("activity_types")
        return self._add_computed("activity_types", {
            "id": aid, "order_nr": aid, "name": f"Eigener Typ {self._ref_seq}", "key_string": f"custom_type_{aid}",
            "icon_key": "task", "active_flag": True, "color": "FFFFFF", "is_custom_flag": True,
            "add_time": v1_time(now), "update_time": v1_time(now)})

    def _add_files(self, parent, now):
        fid = self._next_id("files")
        return self._add_computed("files", {
            "id": fid, "user_id": 1, "deal_id": None, "person_id": None, "org_id": None, "product_id": None,
            "activity_id": 1, "lead_id": None, "project_id": None, "log_id": None, "add_time": v1_time(now),
            "update_time": v1_time(now), "file_name": f"upload_{fid}.pdf", "file_type": "pdf", "file_size": 12345,
            "active_flag": True, "inline_flag": False, "remote_location": "s3", "remote_id": None, "cid": "",
            "s3_bucket": "", "mail_message_id": "", "mail_template_id": "", "deal_name": "", "person_name": "",
            "org_name": "", "product_name": "", "lead_name": "", "project_name": "",
            "url": f"https://{self.company_domain}.pipedrive.com/v1/files/{fid}/download",
            "name": f"Neue Datei {self._ref_seq}", "description": ""})

    def _add_filters(self, parent, now):
        fid = self._next_id("filters")
        return self._add_computed("filters", {
            "id": fid, "name": f"Neuer Filter {self._ref_seq}", "filter_code": None, "is_editable": True,
            "active_flag": True, "type": "deals", "temporary_flag": None, "user_id": 1, "add_time": v1_time(now),
            "update_time": v1_time(now), "visible_to": "7", "last_used_time": None, "custom_view_id": None})

    def _add_webhooks(self, parent, now):
        wid = self._next_id("webhooks")
        return self._add_computed("webhooks", {
            "id": wid, "company_id": self.company_id, "owner_id": 1, "user_id": 1, "event_action": "updated",
            "event_object": "deal", "subscription_url": f"https://hooks.example.com/pipedrive/{wid}",
            "version": "2.0", "is_active": 1, "add_time": _ms(now), "remove_time": None, "type": "general",
            "http_auth_user": None, "http_auth_password": None, "remove_reason": None, "last_delivery_time": None,
            "last_http_status": None, "admin_id": 1, "name": f"Neuer Webhook {self._ref_seq}"})

    def _add_call_logs(self, parent, now):
        cid = "CA" + hashlib.md5(f"{self.seed}:added:{self._ref_seq}".encode()).hexdigest()[:28]
        return self._add_computed("call_logs", {
            "id": cid, "activity_id": 1, "person_id": 1, "org_id": None, "deal_id": None, "lead_id": None,
            "subject": "Anruf ☎", "duration": "60", "outcome": "connected", "from_phone_number": "+37255550000",
            "to_phone_number": "+493012345678", "has_recording": False, "start_time": ms_time(now * 1000),
            "end_time": ms_time((now + 60) * 1000), "user_id": 1, "company_id": 1000 + self.seed,
            "note": "Neuer Anruf"})

    def _add_goals(self, parent, now):
        gid = hashlib.sha1(f"{self.seed}:goal:added:{self._ref_seq}".encode()).hexdigest()[:32]
        year = date_str(now)[:4]
        self._store("goals")["added"].append({
            "id": gid, "owner_id": 1, "title": f"Neues Ziel {self._ref_seq}",
            "type": {"name": "deals_won", "params": {"pipeline_id": [1]}}, "assignee": {"id": 1, "type": "person"},
            "interval": "monthly", "duration": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
            "expected_outcome": {"target": 10, "tracking_metric": "quantity"}, "is_active": True,
            "report_ids": [hashlib.md5(f"{self.seed}:report:added:{self._ref_seq}".encode()).hexdigest()]})
        return gid

    def _add_pipelines(self, parent, now):
        pid = self._next_id("pipelines")
        self.pipelines.append({"id": pid, "name": f"Neue Pipeline {self._ref_seq}", "order_nr": pid,
                               "is_deleted": False, "is_deal_probability_enabled": True, "add_time": v2_time(now),
                               "update_time": v2_time(now)})
        return pid

    def _add_stages(self, parent, now):
        pipeline = parent or next(p["id"] for p in self.pipelines if not p["is_deleted"])
        sid = self._next_id("stages")
        order = max((s["order_nr"] for s in self.stages if s["pipeline_id"] == pipeline), default=0) + 1
        self.stages.append({"id": sid, "order_nr": order, "name": f"Neue Stufe {self._ref_seq}", "is_deleted": False,
                            "deal_probability": 100, "pipeline_id": pipeline, "is_deal_rot_enabled": False,
                            "days_to_rotten": None, "add_time": v2_time(now), "update_time": v2_time(now)})
        return sid

    def _add_roles(self, parent, now):
        rid = self._next_id("roles")
        top = self.role(parent or 1) or self._roles[0]
        self._roles.append({"id": rid, "parent_role_id": top["id"], "name": f"Neue Rolle {self._ref_seq}",
                            "level": top["level"] + 1})
        return rid

    def _add_permission_sets(self, parent, now):
        psid = str(uuid.UUID(hashlib.sha1(f"{self.seed}:permission-set:added:{self._ref_seq}".encode()).hexdigest()[:32],
                             version=4))
        self._psets.append({"id": psid, "name": f"Eigener Satz {self._ref_seq}",
                            "description": "Benutzerdefiniert (Admin-UI)", "app": "sales", "type": "custom"})
        return psid

    def _add_lead_labels(self, parent, now):
        lid = str(uuid.UUID(int=Random(f"{self.seed}:lead-label:{self._ref_seq}").getrandbits(128), version=4))
        self.lead_labels.append({"id": lid, "name": f"Neu {self._ref_seq}", "color": "green",
                                 "add_time": ms_time(now * 1000), "update_time": ms_time(now * 1000)})
        return lid

    def _add_boards(self, parent, now):
        bid = self._next_id("boards")
        boards = self._projects()["boards"]
        boards.append({"id": bid, "name": f"Neues Board {self._ref_seq}",
                       "order_nr": max((b["order_nr"] for b in boards), default=0) + 1,
                       "add_time": _ms(now), "update_time": _ms(now)})
        return bid

    def _add_phases(self, parent, now):
        board = parent or self._projects()["boards"][0]["id"]
        self._find("boards", board)
        phid = self._next_id("phases")
        phases = self._projects()["phases"]
        phases.append({"id": phid, "name": f"Neue Phase {self._ref_seq}", "board_id": board,
                       "order_nr": max((p["order_nr"] for p in phases if p["board_id"] == board), default=0) + 1,
                       "add_time": _ms(now), "update_time": _ms(now)})
        return phid

    def _add_projects(self, parent, now):
        pid = self._next_id("projects")
        board = self._projects()["boards"][0]["id"]
        phase = next((p["id"] for p in self._projects()["phases"] if p["board_id"] == board), None)
        self._projects()["projects"].append({
            "id": pid, "title": f"Neues Projekt {self._ref_seq}", "description": "", "status": "open",
            "board_id": board, "phase_id": phase, "owner_id": 1, "start_date": date_str(now), "end_date": None,
            "deal_ids": [], "person_ids": [], "org_ids": [], "label_ids": [], "health_status": None,
            "add_time": _ms(now), "update_time": _ms(now), "status_change_time": _ms(now), "archive_time": None,
            "custom_fields": {f.key: None for f in self._projects()["custom"]}})
        self._project_added.add(pid)
        return pid

    def _add_project_templates(self, parent, now):
        tid = self._next_id("project_templates")
        self._projects()["templates"].append({
            "id": tid, "title": f"Neue Vorlage {self._ref_seq}", "description": "", "projects_board_id": 1,
            "owner_id": 1, "add_time": _ms(now), "update_time": _ms(now)})
        return tid

    def _add_tasks(self, parent, now):
        pr = self._projects()["projects"]
        project = parent or next(p["id"] for p in pr if p["status"] != "deleted" and p["archive_time"] is None)
        tid = self._next_id("tasks")
        self._projects()["tasks"].append({
            "id": tid, "title": f"Neue Aufgabe {self._ref_seq}", "creator_id": 1, "description": None,
            "project_id": project, "is_done": False, "is_milestone": False, "due_date": None, "start_date": None,
            "parent_task_id": None, "assignee_ids": [1], "priority": None, "add_time": _ms(now),
            "update_time": _ms(now), "marked_as_done_time": None})
        return tid

    def _add_mail_threads(self, parent, now):
        mail = self._mail()
        tid = len(mail["threads"]) + 1
        th = {"id": tid, "user_id": 1, "folder": "inbox", "deal_id": None, "person_id": None, "shared": 1,
              "subject": f"Neue Anfrage {self._ref_seq}", "messages": [], "t0": now}
        mail["threads"].append(th)
        other = self._outside_party(Random(f"{self.seed}:ref-mail:{self._ref_seq}"))(0)
        self._new_message(th, other, now, th["subject"])
        return tid

    def _delete_mail_threads(self, rid, now):
        if self.mail_thread_owner(rid) is None:
            raise ValueError(f"no mail thread {rid}")
        self._mail()["threads"][rid - 1]["deleted"] = True  # deleteMailThread "Marks a mail thread as deleted"
        self._mail_changed()
        return rid

    # ---- product children -------------------------------------------------------------------------------------
    def _variation_parent(self, vid: int) -> int:
        st = self._refs.get("product_variations")
        for p, it in (st["added"] if st else ()):
            if it["id"] == vid:
                return p
        acc = self._offsets("products", "n_variations")
        t = self.tables["products"]
        total = (acc[-1] + t.cols["n_variations"][-1]) if t.n else 0
        if not 1 <= vid <= total:
            raise ValueError(f"no product variation {vid}")
        return bisect_right(acc, vid - 1)

    def _add_product_variations(self, parent, now):
        pid = parent or self.alive_ids("products")[0]
        t = self.tables["products"]
        st = self._store("product_variations")
        vid = (self._offsets("products", "n_variations")[-1] + t.cols["n_variations"][-1]) + len(st["added"]) + 1
        st["added"].append((pid, {"id": vid, "name": f"Neue Variante {self._ref_seq}", "product_id": pid,
                                  "prices": [{"product_variation_id": vid, "price": 10.0, "currency": "EUR",
                                              "cost": 5.0, "direct_cost": None, "notes": ""}]}))
        return vid

    def _delete_product_variations(self, rid, now):
        pid = self._variation_parent(rid)
        if all(v["id"] != rid for v in self.variations(pid)):
            raise ValueError(f"product variation {rid} is already deleted")
        self._store("product_variations")["gone"].add((pid, rid))
        return rid

    def _add_product_images(self, parent, now):
        pid = parent or self._pick("product_images", [p for p in self.alive_ids("products")
                                                       if self.product_image(p) is None], "product without image")
        if self.product_image(pid) is not None:
            raise ValueError(f"product {pid} already has an image: change it")
        st = self._store("product_images")
        st["gone"].discard(pid)
        st["over"].pop(pid, None)
        st["added"] = [x for x in st["added"] if x["product_id"] != pid]
        img = {"id": pid, "product_id": pid, "company_id": str(self.company_id)}
        img.update(self._image_fields(Random(f"{self.seed}:ref-image:{self._ref_seq}"), now))
        st["added"].append(img)
        return pid

    def _delete_product_images(self, rid, now):
        if self.product_image(rid) is None:
            raise ValueError(f"product {rid} has no image")
        self._store("product_images")["gone"].add(rid)
        return rid

    # ---- user / role / permission-set children ----------------------------------------------------------------
    def _add_user_followers(self, parent, now):
        active = [u["id"] for u in self.users if u["active_flag"]]
        for uid in ([parent] if parent else [u["id"] for u in self.users]):
            self._find("users", uid)
            following = {f["user_id"] for f in self.followers("users", uid)}
            free = [v for v in active if v != uid and v not in following]
            if free:
                self._store("user_followers")["added"].append((uid, {"user_id": free[0], "add_time": v2_time(now)}))
                self._touch_user(uid, now)
                return uid
        raise ValueError("no user can gain a follower")

    def _delete_user_followers(self, rid, now):
        self._find("users", rid)
        current = self.followers("users", rid)
        if not current:
            raise ValueError(f"user {rid} has no follower")
        self._store("user_followers")["gone"].add((rid, current[-1]["user_id"]))
        self._touch_user(rid, now)
        return rid

    def _add_role_assignments(self, parent, now):
        rid = parent or (2 if self.role(2) else self._roles[0]["id"])
        self._find("roles", rid)
        outside = [u for u in self.users if u["role_id"] != rid]
        if not outside:
            raise ValueError(f"every user already holds role {rid}")
        outside[-1]["role_id"] = rid  # POST /v1/roles/{id}/assignments
        self._touch_user(outside[-1]["id"], now)
        return rid

    def _delete_role_assignments(self, rid, now):
        self._find("roles", rid)
        if rid == 1:
            raise ValueError("role 1 is the default role: removing a user from it leaves them in it")
        holders = [u for u in self.users if u["role_id"] == rid]
        if not holders:
            raise ValueError(f"role {rid} has no assignment")
        holders[-1]["role_id"] = 1  # "Removes the assigned user from a role and adds to the default role"
        self._touch_user(holders[-1]["id"], now)
        return rid

    def _add_permission_set_assignments(self, parent, now):
        psid = parent or self._psets[0]["id"]
        ps = self._find("permission_sets", psid)
        for u in self.users:
            if u["active_flag"] and all(a["permission_set_id"] != psid for a in u["access"]):
                # one set per app: the new one replaces the user's set of that app (inferred)
                u["access"] = [a for a in u["access"] if a["app"] != ps["app"]] + [
                    {"app": ps["app"], "admin": ps["type"] == "admin", "permission_set_id": psid}]
                self._touch_user(u["id"], now)
                return psid
        raise ValueError(f"every active user already holds permission set {psid}")

    def _delete_permission_set_assignments(self, rid, now):
        self._find("permission_sets", rid)
        holders = [u for u in self.users if any(a["permission_set_id"] == rid for a in u["access"])]
        if not holders:
            raise ValueError(f"permission set {rid} has no assignment")
        self._drop_set(holders[-1], rid)
        self._touch_user(holders[-1]["id"], now)
        return rid

    # ---- custom field definitions -----------------------------------------------------------------------------
    def _field(self, entity: str, code):
        f = self.custom_by_key[entity].get(code)
        if f is None:
            raise ValueError(f"{code!r} is not a custom field of {entity} (built-in fields cannot be changed)")
        return f

    def _fields_changed(self, entity: str) -> None:
        self._fields_touched.add(entity)
        self.custom_by_key[entity] = {f.key: f for f in self.custom[entity]}
        self.tables[entity].cache.clear()
        if entity == "deals":
            self.tables["leads"].cache.clear()

    def _change_field(self, entity, code, now):
        f = self._field(entity, code if code is not None else self.custom[entity][0].key)
        new = F.CustomField(f.key, self._tag(f.name), f.type, f.options, f.deleted_options, f.order, f.add_time,
                            update_time=now)
        self.custom[entity] = [new if x.key == f.key else x for x in self.custom[entity]]
        self._fields_changed(entity)
        return f.key

    def _add_field(self, entity, _parent, now):
        key = hashlib.sha1(f"{self.seed}:{entity}:added:{self._ref_seq}".encode()).hexdigest()
        order = len(self._custom_gen[entity]) + sum(1 for f in self.custom[entity]
                                                    if f.key not in {g.key for g in self._custom_gen[entity]})
        self.custom[entity] = self.custom[entity] + [
            F.CustomField(key, f"Neues Feld {self._ref_seq}", "varchar", None, [], order, now)]
        self._fields_changed(entity)
        return key

    def _delete_field(self, entity, code, now):
        self._field(entity, code)
        self.custom[entity] = [f for f in self.custom[entity] if f.key != code]
        self._fields_changed(entity)
        return code

    # ---- project history --------------------------------------------------------------------------------------
    def _log_project(self, pid: int, before: dict, fields: dict, now: int) -> None:
        if pid not in self._project_added:
            self._project_base.setdefault(pid, dict(before))
        changed = {k: v for k, v in fields.items() if k in ("title", "status") and before.get(k) != v}
        if changed:
            self._project_log.setdefault(pid, []).append({
                "change_source": "api", "change_source_user_agent": None, "time": _ms(now),
                "new_values": changed, "old_values": {k: before.get(k) for k in changed}, "actor_user_id": 1})
