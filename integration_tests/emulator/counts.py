"""Per-record counts and summaries: the optional `include_fields` of v2 deals, persons and organizations
(openapi v2 getDeals / getArchivedDeals / getDeal / getPersons / getPerson / getOrganizations / getOrganization;
pipedrive-api.md §2.2) and the same numbers in the v1 objects that embed them (recents, flow, participants).

Mixed into data.Dataset. The rule: a count equals the length of the list its child endpoint returns for the record.
The schemas describe none of these fields, so each mapping below is our reading (inferred):

  followers_count            len(GET /api/v2/{deals,persons,organizations}/{id}/followers)
  participants_count         len(GET /v1/deals/{id}/participants)
  email_messages_count       len(GET /v1/{deals,persons,organizations}/{id}/mailMessages), all pages
  products_count             len(GET /api/v2/deals/{id}/products) (= its rows in /api/v2/deals/products?deal_ids=)
  files_count                GET /v1/files entries whose deal_id / person_id / org_id is the record
  notes_count                GET /v1/notes?deal_id= | person_id= | org_id=
  activities_count           GET /api/v2/activities?deal_id= | person_id= | org_id=  (done_/undone_: &done=)
  people_count               GET /api/v2/persons?org_id=
  {open,won,lost}_deals_count, closed_ (= won + lost)
                             GET /api/v2/deals?person_id= | org_id= &status=  (archived deals are not listed there)
  related_*_deals_count      organizations: deals whose contact person belongs to the org while the deal's own
                             org_id is another or none (the "indirect relation through persons" of the former v1
                             /organizations/{id}/deals); persons: the other deals of the person's organization.
                             A contact's own deals are not "related" (a recorded sandbox response shows 1 open deal
                             and 0 related open deals for a contact with one deal).
  participant_{open,closed}_deals_count
                             deals (as listed by /api/v2/deals) in which the person is a participant but not the
                             contact person (same recorded response: a contact's own deal counts 0 here)
  last_incoming_mail_time / last_outgoing_mail_time
                             newest received / sent (not draft) message among email_messages_count's messages
  next_activity_id           the undone activity with the earliest due date (ties: lowest id)
  last_activity_id           the done activity with the latest due date (ties: highest id)
Deleted children never count; soft-deleted or archived parents still have their counts (their child endpoints
answer). Products have no include_fields (openapi getProducts documents none).

Cost: each table is scanned once per version (Table.version changes on every mutation) and the result kept, so a
request does O(1) work per record; followers and participants come from their per-record generators (a few µs).
"""
from __future__ import annotations

from . import data as D
from .common import v1_time, v2_time

_COL = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id"}
_STATUS_NAMES = ("open", "won", "lost")
_ZERO3 = (0, 0, 0)


class CountsMixin:
    def _memo(self, key, deps, build):
        hit = self._derived.get(key)
        if hit is not None and hit[0] == deps:
            return hit[1]
        value = build()
        self._derived[key] = (deps, value)
        return value

    def _deps(self, *entities) -> tuple:
        return tuple((self.tables[e].version, self.tables[e].n) for e in entities)

    # ---- activities ------------------------------------------------------------------------------------------
    def _activity_stats(self, col: str) -> dict:
        """parent id -> [all, done, undone, next_id, next_key, last_id, last_key] over non-deleted activities."""
        def build():
            t = self.tables["activities"]
            ref, done, due, flags = t.cols[col], t.cols["done"], t.cols["due"], t.flags
            out: dict = {}
            for k in range(t.n):
                p = ref[k]
                if not p or flags[k] & D.DELETED:
                    continue
                s = out.get(p)
                if s is None:
                    s = out[p] = [0, 0, 0, None, None, None, None]
                s[0] += 1
                key = (due[k], k + 1)
                if done[k]:
                    s[1] += 1
                    if s[6] is None or key > s[6]:
                        s[5], s[6] = k + 1, key
                else:
                    s[2] += 1
                    if s[4] is None or key < s[4]:
                        s[3], s[4] = k + 1, key
            return out
        return self._memo(("activity-stats", col), self._deps("activities"), build)

    # ---- deals by person / organization -------------------------------------------------------------------------
    def _deal_stats(self) -> dict:
        """Status counts over the deals /api/v2/deals lists (neither archived nor deleted): by person, by org, by
        (person, org), and the related counts of organizations (deals reached through their persons)."""
        def build():
            t = self.tables["deals"]
            flags, st, pcol, ocol = t.flags, t.cols["status"], t.cols["person_id"], t.cols["org_id"]
            persons = self.tables["persons"]
            porg, pflags = persons.cols["org_id"], persons.flags
            by_person, by_org, by_pair, related_org = {}, {}, {}, {}

            def bump(d, key, s):
                row = d.get(key)
                if row is None:
                    row = d[key] = [0, 0, 0]
                row[s] += 1
            for k in range(t.n):
                if flags[k]:
                    continue
                s, p, o = st[k], pcol[k], ocol[k]
                if p:
                    bump(by_person, p, s)
                    po = porg[p - 1] if not pflags[p - 1] & D.DELETED else 0  # a deleted person links nothing
                    if po and po != o:
                        bump(related_org, po, s)
                if o:
                    bump(by_org, o, s)
                    if p:
                        bump(by_pair, (p, o), s)
            return {"persons": by_person, "organizations": by_org, "pairs": by_pair, "related_org": related_org}
        return self._memo("deal-stats", self._deps("deals", "persons"), build)

    def _participant_deal_stats(self) -> dict:
        """person -> [open, closed] over listed deals in which the person participates without being the contact."""
        def build():
            t = self.tables["deals"]
            flags, st, pcol = t.flags, t.cols["status"], t.cols["person_id"]
            out: dict = {}
            for k in range(t.n):
                if flags[k]:
                    continue
                closed = 1 if st[k] else 0
                for p in self.participant_person_ids(k + 1):
                    if p != pcol[k]:
                        row = out.get(p)
                        if row is None:
                            row = out[p] = [0, 0]
                        row[closed] += 1
            return out
        return self._memo("participant-deal-stats", self._deps("deals"), build)

    def _deal_status_counts(self, entity: str, rid: int, related: bool):
        stats = self._deal_stats()
        if not related:
            return stats[entity].get(rid, _ZERO3)
        if entity == "organizations":
            return stats["related_org"].get(rid, _ZERO3)
        org = self.tables["persons"].cols["org_id"][rid - 1]
        if not org:
            return _ZERO3
        of_org, own = stats["organizations"].get(org, _ZERO3), stats["pairs"].get((rid, org), _ZERO3)
        return tuple(a - b for a, b in zip(of_org, own))

    # ---- files and mail -----------------------------------------------------------------------------------------
    def _file_counts(self, col: str) -> dict:
        files = self.files()
        return self._memo(("file-counts", col), self._files_version, lambda: _count_by(f[col] for f in files))

    def _mail_stats(self, entity: str) -> dict:
        """rid -> (messages listed, newest received ts, newest sent ts); mail does not change after generation."""
        mail = self._mail()
        key = ("stats", entity)
        if key not in mail:
            out = {}
            for rid, ids in mail["by"][entity].items():
                msgs = [mail["messages"][i - 1] for i in set(ids)]
                received = [m["ts"] for m in msgs if not m["outgoing"]]
                sent = [m["ts"] for m in msgs if m["outgoing"] and not m["draft"]]
                out[rid] = (len(msgs), max(received) if received else None, max(sent) if sent else None)
            mail[key] = out
        return mail[key]

    # ---- the record's values --------------------------------------------------------------------------------------
    def count_fields(self, entity: str, rid: int, names, v1: bool = False) -> dict:
        """Values of the requested include_fields names (counts, mail times, next/last activity) for one deal,
        person or organization; `v1=True` renders times in the v1 format."""
        col = _COL[entity]
        out = {}
        acts = mail = None
        fmt = v1_time if v1 else v2_time
        for name in names:
            if name in ("activities_count", "done_activities_count", "undone_activities_count",
                        "next_activity_id", "last_activity_id"):
                if acts is None:
                    acts = self._activity_stats(col).get(rid) or [0, 0, 0, None, None, None, None]
                out[name] = acts[{"activities_count": 0, "done_activities_count": 1, "undone_activities_count": 2,
                                  "next_activity_id": 3, "last_activity_id": 5}[name]]
            elif name in ("email_messages_count", "last_incoming_mail_time", "last_outgoing_mail_time"):
                if mail is None:
                    mail = self._mail_stats(entity).get(rid) or (0, None, None)
                if name == "email_messages_count":
                    out[name] = mail[0]
                else:
                    out[name] = fmt(mail[1] if name == "last_incoming_mail_time" else mail[2])
            elif name == "notes_count":
                out[name] = self.counts("notes", col).get(rid, 0)
            elif name == "files_count":
                out[name] = self._file_counts(col).get(rid, 0)
            elif name == "followers_count":
                out[name] = len(self.followers(entity, rid))
            elif name == "products_count" and entity == "deals":
                out[name] = self.deal_product_count(rid)
            elif name == "participants_count" and entity == "deals":
                out[name] = len(self.participant_person_ids(rid))
            elif name == "people_count" and entity == "organizations":
                out[name] = self.counts("persons", "org_id").get(rid, 0)
            elif name.startswith("participant_") and entity == "persons":
                row = self._participant_deal_stats().get(rid, (0, 0))
                out[name] = row[0] if name == "participant_open_deals_count" else row[1]
            elif name.endswith("_deals_count") and entity != "deals":
                related = name.startswith("related_")
                status = name[len("related_"):] if related else name
                row = self._deal_status_counts(entity, rid, related)
                status = status[:-len("_deals_count")]
                out[name] = row[1] + row[2] if status == "closed" else row[_STATUS_NAMES.index(status)]
        return out

    # ---- deals summary (v1) ---------------------------------------------------------------------------------------
    def _deal_money(self, did: int):
        """(value, currency, probability or None) of one deal, kept in the deals table's per-record cache: mutate()
        invalidates exactly the rows it changes, so after a change only those are drawn again (a cold pass draws
        every deal's generator head: ~25 µs a deal)."""
        per = self.tables["deals"].cache.get("money")
        if per is None:
            per = self.tables["deals"].cache["money"] = {}
        hit = per.get(did)
        if hit is None:
            hit = per[did] = self.deal_money(did)
        return hit

    def deals_summary(self, archived: bool = False, statuses=None, owner_id=None, pipeline_id=None,
                      stage_id=None) -> dict:
        """data of GET /v1/deals/summary (archived=False: not archived) and /v1/deals/summary/archived (openapi v1
        getDealsSummary / getArchivedDealsSummary). Deleted deals never count; `statuses`: some of open/won/lost
        (None: all three). Groups by deal currency; converted values are in the company default currency (EUR, the users'
        default_currency) at the fixed rates CONVERSION (inferred: the emulator has no exchange-rate feed)."""
        t = self.tables["deals"]
        c, flags = t.cols, t.flags
        want = D.ARCHIVED if archived else 0
        codes = {_STATUS_NAMES.index(x) for x in (statuses if statuses is not None else _STATUS_NAMES)}
        groups: dict = {}
        stage_prob = {st["id"]: st["deal_probability"] for st in self.stages}
        for k in range(t.n):
            f = flags[k]
            if f & D.DELETED or f & D.ARCHIVED != want:
                continue
            if c["status"][k] not in codes:
                continue
            if (owner_id is not None and c["owner_id"][k] != owner_id) or (
                    pipeline_id is not None and c["pipeline_id"][k] != pipeline_id) or (
                    stage_id is not None and c["stage_id"][k] != stage_id):
                continue
            value, cur, prob = self._deal_money(k + 1)
            # weighted = value x probability, the stage's deal_probability when the deal has none (as v1 deals)
            weighted = round(value * (prob if prob is not None else stage_prob[c["stage_id"][k]]) / 100, 2)
            g = groups.setdefault(cur, [0.0, 0, 0.0])
            g[0] += value
            g[1] += 1
            g[2] += weighted
        values, weighted_values = {}, {}
        total = total_weighted = 0.0
        for cur in sorted(groups):
            value, count, weighted = groups[cur]
            converted = round(value * CONVERSION[cur], 2)
            total += converted
            total_weighted += weighted * CONVERSION[cur]
            values[cur] = {"value": round(value, 2), "count": count, "value_converted": converted,
                           "value_formatted": money_str(value, cur),
                           "value_converted_formatted": money_str(converted, DEFAULT_CURRENCY)}
            weighted_values[cur] = {"value": round(weighted, 2), "count": count,
                                    "value_formatted": money_str(weighted, cur)}
        total, total_weighted = round(total, 2), round(total_weighted, 2)
        return {"values_total": values, "weighted_values_total": weighted_values,
                "total_count": sum(g[1] for g in groups.values()), "total_currency_converted_value": total,
                "total_weighted_currency_converted_value": total_weighted,
                "total_currency_converted_value_formatted": money_str(total, DEFAULT_CURRENCY),
                "total_weighted_currency_converted_value_formatted": money_str(total_weighted, DEFAULT_CURRENCY)}

    def activity_due(self, aid):
        """Due date of an activity as YYYY-MM-DD (v1 next/last_activity_date), None for no activity."""
        if aid is None:
            return None
        return v2_time(self.tables["activities"].cols["due"][aid - 1])[:10]


# /v1/deals/summary: value of one unit of each currency in the company default currency (inferred fixed rates)
DEFAULT_CURRENCY = "EUR"
CONVERSION = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17, "JPY": 0.0062, "CHF": 1.04}
_PREFIX = {"EUR": "€", "USD": "US$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}
_DECIMALS = {"JPY": 0}


def money_str(value: float, currency: str) -> str:
    """Formatted like the getDealsSummary example ("€10", "US$11.10"): prefix, thousands separators, the currency's
    decimals unless the amount is whole (inferred from the example's mixed forms)."""
    dp = _DECIMALS.get(currency, 2)
    value = round(value, dp)
    text = f"{value:,.0f}" if dp == 0 or float(value).is_integer() else f"{value:,.{dp}f}"
    return _PREFIX.get(currency, currency + " ") + text


def _count_by(values) -> dict:
    out: dict = {}
    for v in values:
        if v:
            out[v] = out.get(v, 0) + 1
    return out
