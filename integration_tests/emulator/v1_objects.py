"""v1 shapes of the core entities, for the v1 endpoints that embed them (flow, participants, recents).

The core records are generated in their v2 shapes (data.py); v1 renames and flattens them (pipedrive-api.md §2.4,
right column): `user_id` for the owner, `active_flag`, "YYYY-MM-DD HH:MM:SS" times, flat address parts and custom
fields, counts and denormalised names. Shapes follow the openapi v1 examples of getRecents / getDealParticipants /
getDealUpdates; values the emulator does not model (next activity, mail times) are null, as on an account without
them (inferred).
"""
from __future__ import annotations

from . import fields as F

_ADDRESS = F.ADDRESS_PARTS


def t1(v2):
    """v2 time string -> v1 time string."""
    return None if v2 is None else v2[:10] + " " + v2[11:19]


class V1ObjectsMixin:
    """Mixed into data.Dataset: every method reads the current (mutated) state."""

    @property
    def company_id(self) -> int:
        return 1000 + self.seed  # same id as /v1/users/me and call logs

    # ---- small references (related_objects, nested *_id objects) -------------------------------------------
    def rel_user(self, uid: int) -> dict:
        u = self.users[uid - 1]
        return {"id": uid, "name": u["name"], "email": u["email"], "has_pic": 0, "pic_hash": None,
                "active_flag": u["active_flag"]}

    def user_ref(self, uid: int) -> dict:
        return {**self.rel_user(uid), "value": uid}

    def _org_deleted(self, oid: int) -> bool:
        return bool(self.tables["organizations"].flags[oid - 1] & 1)

    def _person_deleted(self, pid: int) -> bool:
        return bool(self.tables["persons"].flags[pid - 1] & 1)

    def _org_address(self, oid: int):
        addr = self.organization(oid)["address"]
        return addr["formatted_address"] if addr else None

    def rel_org(self, oid: int) -> dict:
        return {"id": oid, "name": self.org_name(oid), "people_count": self.counts("persons", "org_id").get(oid, 0),
                "owner_id": self.tables["organizations"].cols["owner_id"][oid - 1],
                "address": self._org_address(oid), "active_flag": not self._org_deleted(oid),
                "cc_email": f"{self.company_domain}+org{oid}@pipedrivemail.com"}

    def org_ref(self, oid: int) -> dict:
        ref = self.rel_org(oid)
        ref.pop("id")
        ref["label_ids"] = self.organization(oid)["label_ids"]
        ref["value"] = oid
        return ref

    def _v1_contacts(self, items):
        # v1 quirk: a person without e-mail/phone has one empty primary entry, not an empty list
        if not items:
            return [{"value": "", "primary": True}]
        return [{"label": x["label"], "value": x["value"], "primary": x["primary"]} for x in items]

    def rel_person(self, pid: int) -> dict:
        p = self.person(pid)
        return {"active_flag": not p["is_deleted"], "id": pid, "name": p["name"],
                "email": self._v1_contacts(p["emails"]), "phone": self._v1_contacts(p["phones"]),
                "owner_id": p["owner_id"]}

    def rel_deal(self, did: int) -> dict:
        d = self.deal(did)
        return {"id": did, "title": d["title"], "status": d["status"], "value": d["value"], "currency": d["currency"],
                "stage_id": d["stage_id"], "pipeline_id": d["pipeline_id"]}

    # ---- counts shared by persons and organizations ---------------------------------------------------------
    _V1_COUNTS = ("email_messages_count", "activities_count", "done_activities_count", "undone_activities_count",
                  "files_count", "notes_count", "followers_count", "open_deals_count", "related_open_deals_count",
                  "closed_deals_count", "related_closed_deals_count", "won_deals_count", "related_won_deals_count",
                  "lost_deals_count", "related_lost_deals_count", "next_activity_id", "last_activity_id",
                  "last_incoming_mail_time", "last_outgoing_mail_time")

    def _v1_counts(self, col: str, rid: int) -> dict:
        entity = "persons" if col == "person_id" else "organizations"
        rec = self.count_fields(entity, rid, self._V1_COUNTS, v1=True)
        rec.update(next_activity_date=self.activity_due(rec["next_activity_id"]), next_activity_time=None,
                   last_activity_date=self.activity_due(rec["last_activity_id"]))
        return rec

    # ---- full v1 objects ------------------------------------------------------------------------------------
    def v1_person(self, pid: int, nested: bool = False) -> dict:
        """v1 person (openapi v1 getRecents `person`); nested=True gives the participants form (owner/org objects)."""
        p = self.person(pid)
        org = p["org_id"]
        owner = self.users[p["owner_id"] - 1]
        rec = {
            "id": pid, "company_id": self.company_id, "owner_id": p["owner_id"], "org_id": org,
            "name": p["name"], "first_name": p["first_name"], "last_name": p["last_name"],
            "active_flag": not p["is_deleted"], "phone": self._v1_contacts(p["phones"]),
            "email": self._v1_contacts(p["emails"]), "first_char": p["name"][:1].lower(),
            "add_time": t1(p["add_time"]), "update_time": t1(p["update_time"]), "visible_to": str(p["visible_to"]),
            "picture_id": None, "label": p["label_ids"][0] if p["label_ids"] else None, "label_ids": p["label_ids"],
            "org_name": self.org_name(org) if org else None, "owner_name": owner["name"],
            "cc_email": f"{self.company_domain}@pipedrivemail.com",
        }
        rec.update(self.count_fields("persons", pid, ("participant_open_deals_count",
                                                      "participant_closed_deals_count")))
        rec.update(self._v1_counts("person_id", pid))
        if nested:
            rec["owner_id"] = self.user_ref(p["owner_id"])
            rec["org_id"] = self.org_ref(org) if org else None
        else:
            rec["merge_what_id"] = None
        rec.update(F.to_v1_flat(p["custom_fields"], self.custom["persons"]))
        return rec

    def v1_organization(self, oid: int) -> dict:
        o = self.organization(oid)
        addr = o["address"] or {}
        owner = self.users[o["owner_id"] - 1]
        rec = {
            "id": oid, "company_id": self.company_id, "owner_id": self.user_ref(o["owner_id"]), "name": o["name"],
            "active_flag": not o["is_deleted"], "picture_id": None, "country_code": addr.get("country"),
            "first_char": o["name"][:1].lower(), "add_time": t1(o["add_time"]), "update_time": t1(o["update_time"]),
            "visible_to": str(o["visible_to"]), "label": o["label_ids"][0] if o["label_ids"] else None,
            "label_ids": o["label_ids"], "owner_name": owner["name"],
            "cc_email": f"{self.company_domain}+org{oid}@pipedrivemail.com",
            "people_count": self.counts("persons", "org_id").get(oid, 0),
            "address": addr.get("formatted_address"),
        }
        for part in _ADDRESS:
            rec["address_" + part] = addr.get(part)
        rec.update(self._v1_counts("org_id", oid))
        rec.update(F.to_v1_flat(o["custom_fields"], self.custom["organizations"]))
        return rec

    def v1_deal(self, did: int) -> dict:
        d = self.deal(did)
        owner = self.users[d["owner_id"] - 1]
        stage = self.stages[d["stage_id"] - 1]
        weighted = round(d["value"] * (d["probability"] if d["probability"] is not None else stage["deal_probability"]) / 100, 2)
        n = self.count_fields("deals", did, (
            "products_count", "files_count", "notes_count", "followers_count", "email_messages_count",
            "activities_count", "done_activities_count", "undone_activities_count", "participants_count",
            "next_activity_id", "last_activity_id", "last_incoming_mail_time", "last_outgoing_mail_time"), v1=True)
        rec = {
            "id": did, "creator_user_id": d["creator_user_id"], "user_id": d["owner_id"], "person_id": d["person_id"],
            "org_id": d["org_id"], "stage_id": d["stage_id"], "title": d["title"], "value": d["value"],
            "currency": d["currency"], "add_time": t1(d["add_time"]), "update_time": t1(d["update_time"]),
            "stage_change_time": t1(d["stage_change_time"]), "active": d["status"] == "open",
            "deleted": d["is_deleted"], "is_archived": d["is_archived"], "status": d["status"],
            "probability": d["probability"], "next_activity_date": self.activity_due(n["next_activity_id"]),
            "next_activity_time": None, "next_activity_id": n["next_activity_id"],
            "last_activity_id": n["last_activity_id"], "last_activity_date": self.activity_due(n["last_activity_id"]),
            "lost_reason": d["lost_reason"], "visible_to": str(d["visible_to"]), "close_time": t1(d["close_time"]),
            "pipeline_id": d["pipeline_id"], "won_time": t1(d["won_time"]), "first_won_time": t1(d["won_time"]),
            "lost_time": t1(d["lost_time"]), "products_count": n["products_count"], "files_count": n["files_count"],
            "notes_count": n["notes_count"], "followers_count": n["followers_count"],
            "email_messages_count": n["email_messages_count"], "activities_count": n["activities_count"],
            "done_activities_count": n["done_activities_count"],
            "undone_activities_count": n["undone_activities_count"], "participants_count": n["participants_count"],
            "expected_close_date": d["expected_close_date"], "last_incoming_mail_time": n["last_incoming_mail_time"],
            "last_outgoing_mail_time": n["last_outgoing_mail_time"],
            "label": ",".join(str(x) for x in d["label_ids"]) or None,
            "stage_order_nr": stage["order_nr"],
            "person_name": " ".join(self.person_names(d["person_id"])) if d["person_id"] else None,
            "org_name": self.org_name(d["org_id"]) if d["org_id"] else None,
            "next_activity_subject": None, "next_activity_type": None, "next_activity_duration": None,
            "next_activity_note": None, "formatted_value": f"{d['value']:,.2f} {d['currency']}",
            "weighted_value": weighted, "formatted_weighted_value": f"{weighted:,.2f} {d['currency']}",
            "weighted_value_currency": d["currency"], "rotten_time": None, "owner_name": owner["name"],
            "cc_email": f"{self.company_domain}+deal{did}@pipedrivemail.com", "org_hidden": False,
            "person_hidden": False, "origin": d["origin"], "origin_id": d["origin_id"], "channel": d["channel"],
            "channel_id": d["channel_id"], "arr": d["arr"], "mrr": d["mrr"], "acv": d["acv"],
            "arr_currency": d["currency"] if d["arr"] is not None else None,
            "mrr_currency": d["currency"] if d["mrr"] is not None else None,
            "acv_currency": d["currency"] if d["acv"] is not None else None,
        }
        rec.update(F.to_v1_flat(d["custom_fields"], self.custom["deals"]))
        return rec

    def v1_activity(self, aid: int) -> dict:
        a = self.activity(aid)
        loc = a["location"] or {}
        owner = self.users[a["owner_id"] - 1]
        person, deal, org = a["person_id"], a["deal_id"], a["org_id"]
        # v1 renders unset strings as "" in many activity fields (openapi getRecents example: "rec_rule_extension": "")
        rec = {
            "id": aid, "company_id": self.company_id, "user_id": a["owner_id"], "done": a["done"], "type": a["type"],
            "reference_type": "", "reference_id": None,
            "conference_meeting_client": a["conference_meeting_client"] or "",
            "conference_meeting_url": a["conference_meeting_url"] or "",
            "conference_meeting_id": a["conference_meeting_id"] or "",
            "due_date": a["due_date"], "due_time": a["due_time"] or "", "duration": a["duration"] or "",
            "busy_flag": a["busy"], "add_time": t1(a["add_time"]),
            "marked_as_done_time": t1(a["marked_as_done_time"]) or "", "last_notification_time": None,
            "last_notification_user_id": None, "notification_language_id": 1, "subject": a["subject"],
            "public_description": a["public_description"] or "", "calendar_sync_include_context": "",
            "location": loc.get("value") or "", "org_id": org, "person_id": person, "deal_id": deal,
            "lead_id": a["lead_id"], "project_id": None, "active_flag": not a["is_deleted"],
            "update_time": t1(a["update_time"]), "update_user_id": None, "gcal_event_id": "",
            "google_calendar_id": "", "google_calendar_etag": "", "source_timezone": "", "rec_rule": "",
            "rec_rule_extension": "", "rec_master_activity_id": None, "series": [], "note": a["note"] or "",
            "created_by_user_id": a["creator_user_id"],
            "attendees": None, "participants": [{"person_id": p["person_id"], "primary_flag": p["primary"]}
                                                 for p in a["participants"]] or None,
            "org_name": self.org_name(org) if org else "",
            "person_name": " ".join(self.person_names(person)) if person else "",
            "deal_title": self.deal_title(deal) if deal else "", "owner_name": owner["name"],
            "person_dropbox_bcc": f"{self.company_domain}@pipedrivemail.com",
            "deal_dropbox_bcc": f"{self.company_domain}+deal{deal}@pipedrivemail.com" if deal else "",
            "assigned_to_user_id": a["owner_id"], "file": None,
        }
        for part in _ADDRESS:
            rec["location_" + part] = loc.get(part) or ""
        return rec

    def v1_product(self, pid: int) -> dict:
        p = self.product(pid)
        rec = {
            "id": pid, "name": p["name"], "code": p["code"] or "", "description": p["description"] or "",
            "unit": p["unit"], "tax": p["tax"], "category": p["category"] or "", "active_flag": not p["is_deleted"],
            "selectable": p["is_linkable"], "first_char": p["name"][:1].lower(), "visible_to": p["visible_to"],
            "owner_id": p["owner_id"], "files_count": 0, "add_time": t1(p["add_time"]),
            "update_time": t1(p["update_time"]),
            "prices": [{"id": pid * 10 + j, "product_id": pid, "price": x["price"], "currency": x["currency"],
                        "cost": x["cost"], "overhead_cost": x["direct_cost"]} for j, x in enumerate(p["prices"])],
        }
        rec.update(F.to_v1_flat(p["custom_fields"], self.custom["products"]))
        return rec

    def v1_pipeline(self, p: dict) -> dict:
        return {"id": p["id"], "name": p["name"], "url_title": p["name"].lower().replace(" ", "-"),
                "order_nr": p["order_nr"], "active": not p["is_deleted"],
                "deal_probability": p["is_deal_probability_enabled"], "add_time": t1(p["add_time"]),
                "update_time": t1(p["update_time"])}

    def v1_stage(self, s: dict) -> dict:
        return {"id": s["id"], "order_nr": s["order_nr"], "name": s["name"], "active_flag": not s["is_deleted"],
                "deal_probability": s["deal_probability"], "pipeline_id": s["pipeline_id"],
                "rotten_flag": s["is_deal_rot_enabled"], "rotten_days": s["days_to_rotten"],
                "add_time": t1(s["add_time"]), "update_time": t1(s["update_time"])}
