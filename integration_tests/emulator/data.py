"""Deterministic, compact, mutable Pipedrive account.

Layout (why): at scale 300k the account holds >1.3M records, far too many Python dicts. So each entity is a
`Table` of compact columns (arrays) holding only what filtering, sorting and linking need (times, flags, foreign
ids); the rest of a record is generated on demand from a per-record `random.Random(salt + id)`, which makes it a
pure function of (seed, entity, id). Mutations are stored as small per-record override dicts on top. Rendered JSON
is cached per record and invalidated per record on mutation.

Time stamps are integer epoch seconds (leads: epoch milliseconds, §3.2) between 2019-01-01 and 2026-11-01 UTC.
Many records deliberately share an update second (hot seconds plus one bulk-edit second touching ~1% of a table,
up to 1,500 rows, more than a 500-row page) because second-granularity ties are the main incremental-sync trap (§8.1).
"""
from __future__ import annotations

import calendar
import hashlib
import threading
import time
import uuid
from array import array
from bisect import bisect_left, bisect_right
from random import Random

from . import fields as F
from .catalogue import CATALOGUE, CatalogueMixin
from .counts import CountsMixin
from .common import date_str, dumps, loads, ms_time, v1_time, v2_time
from .reference import ReferenceMixin
from .v1_objects import V1ObjectsMixin

START = calendar.timegm((2019, 1, 1, 0, 0, 0))
END = calendar.timegm((2026, 11, 1, 0, 0, 0))
SPAN = END - START
DELETED, ARCHIVED = 1, 2
STATUS = ("open", "won", "lost")
M32 = 0xFFFFFFFF

_FIRST = ("Anna", "José", "Jürgen", "Zoë", "Łukasz", "Ольга", "Дмитрий", "美咲", "さくら", "Søren", "François",
          "Ayşe", "Mário", "Björk", "Nguyễn", "Liam", "Emma", "Noah", "Mia", "Oliver", "Chloé", "Mateo")
_LAST = ("Müller", "García", "Smith", "Иванова", "佐藤", "O'Brien", "Dvořák", "Nowak", "Öztürk", "Rossi",
         "Johansson", "Lefèvre", "Kowalski", "王", "Tamm", "Virtanen", "Silva", "Schmidt")
_ORG_WORDS = ("Nordlicht", "Acme", "Quantum", "Bäckerei Süß", "Синтез", "Sakura", "Zenith", "Polaris", "Fjord",
              "Atlas", "Helios", "Vértice", "Kraftwerk", "Lumen", "Tiger", "Orbit", "Café Crème")
_ORG_SUFFIX = ("GmbH", "OÜ", "S.A.", "株式会社", "ООО", "Ltd", "Inc.", "AB", "Oy", "SRL", "🚀 Labs")
_DEAL_PATTERNS = ("{org} deal", "Lizenz für {org}", "Renouvellement {org}", "Сделка {org}", "{org} 拡張",
                  "{org} – Q{q} upsell", "{org} pilot 🎯")
_PRODUCTS = ("Licence", "Lizenz Pro", "Support Plan", "Consulting hour", "Обучение", "ハードウェア", "Café Kit",
             "Onboarding ✨", "API access", "Storage 1 TB")
_SUBJECTS = ("Call", "Demo", "Follow-up", "Rückruf", "Встреча", "打ち合わせ", "Lunch 🍣", "Contract review")
_NOTE_TEXT = ("<p>Spoke with the client</p>", "<p>Kunde möchte ein Angebot</p>", "<p>Перезвонить в пятницу</p>",
              "<p>見積もりを送付</p>", "<p>Great call 🎉</p>", "")
_LOST_REASONS = ("Too expensive", "Zu teuer", "Timing", "Конкурент", None)
_CURRENCIES = ((1, "EUR", "Euro", 2, "€"), (2, "USD", "US Dollar", 2, "$"), (3, "GBP", "Pound Sterling", 2, "£"),
               (4, "JPY", "Japanese Yen", 0, "¥"), (5, "CHF", "Swiss Franc", 2, "CHF"))
_ACTIVITY_TYPES = ((1, "Call", "call", "call"), (2, "Meeting", "meeting", "meeting"), (3, "Task", "task", "task"),
                   (4, "Deadline", "deadline", "deadline"), (5, "Email", "email", "email"),
                   (6, "Lunch", "lunch", "lunch"), (7, "Démo ✨", "demo", "presentation"))
_LEAD_SOURCES = ("Manually created", "Deal", "Web forms", "Prospector", "Leadbooster", "Live chat", "Import",
                 "Website visitors", "Workflow automation", "API")

_LABEL_SETS = ((), (), (1,), (2,), (3,), (1, 2), (1, 3), (2, 3))
_CURRENCY_SETS = (("EUR",), ("USD",), ("EUR", "USD"), ("GBP",), ("CHF", "EUR"), ("JPY",))


def _pick(rnd, seq):
    # r.choice/randint cost ~1 µs each; plain arithmetic on r.random() is ~5x cheaper on the cold render path
    return seq[int(rnd() * len(seq))]


def _randint(rnd, a, b):
    return a + int(rnd() * (b - a + 1))


def _uniform(rnd, a, b):
    return a + (b - a) * rnd()


MAIN_ENTITIES = ("deals", "persons", "organizations", "activities", "products", "leads", "notes")


class Table:
    """Columns of one entity; id k+1 lives at index k."""

    def __init__(self, name: str, salt: int):
        self.name, self.salt = name, salt
        self.add, self.upd, self.upd0 = array("q"), array("q"), array("q")  # upd0: update time at generation
        self.flags = bytearray()
        self.cols: dict = {}
        self.over: dict = {}  # id -> {field: value}; "custom_fields" merges key-wise
        self.cache: dict = {}  # variant -> {id: bytes}
        self.version = 0  # bumped whenever a sort key or filter column changes
        self.indexes: dict = {}

    @property
    def n(self) -> int:
        return len(self.add)

    def invalidate(self, rid: int) -> None:
        for per_variant in self.cache.values():
            per_variant.pop(rid, None)


def _salt(seed: int, what: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{what}".encode()).digest()[:5], "big") << 24


def _mix(x: int) -> int:
    # splitmix64 finaliser: a cheap deterministic hash for small derived choices (no Random construction)
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


MAX_USERS = 50


class Dataset(CatalogueMixin, CountsMixin, V1ObjectsMixin, ReferenceMixin):
    """The account. Secondary data sets (history, children, projects, mail, admin, goals, recents) live in
    catalogue.CatalogueMixin; per-record counts (include_fields) and the deals summary in counts.CountsMixin; v1
    shapes of the core records in v1_objects.V1ObjectsMixin; changes to reference data (change_reference,
    add_reference, delete_reference) in reference.ReferenceMixin.

    `users`: number of users (1..MAX_USERS); None keeps the scale formula min(20, 3 + scale // 1000), so every
    existing seed keeps its account. `clock`: a callable giving epoch seconds (default time.time); it stamps every
    change (mutate, delete/restore, reference changes) and is the "now" of /v1/recents' one-month window."""

    def __init__(self, seed: int = 42, scale: int = 200, cache_bytes: int = 2 << 30, *, users=None, clock=None):
        if users is not None and (isinstance(users, bool) or not isinstance(users, int)
                                  or not 1 <= users <= MAX_USERS):
            raise ValueError(f"users must be an integer from 1 to {MAX_USERS}, got {users!r}")
        self.seed, self.scale = seed, max(1, int(scale))
        self.clock = clock or time.time
        self.lock = threading.RLock()
        self.cache_bytes, self._cached = cache_bytes, 0
        self.start, self.span = START, SPAN
        self.currency_codes = [c[1] for c in _CURRENCIES]
        self.mutations = 0
        self._init_reference()  # reference.py: per-kind overrides / additions / removals
        self._upd_before_delete: dict = {}  # (entity, row) -> update_time a restore puts back
        s = self.scale
        self.base_n = {
            "users": users if users is not None else min(20, 3 + s // 1000), "organizations": max(1, s // 2), "persons": s, "deals": s,
            "products": max(5, s // 20), "leads": max(3, s // 4), "activities": s, "notes": max(3, s // 2),
        }
        self.n_users = self.base_n["users"]
        self.n_orgs, self.n_persons = self.base_n["organizations"], self.base_n["persons"]
        self.company_domain = f"emulator-{seed}"
        self.tables = {e: Table(e, _salt(seed, e)) for e in MAIN_ENTITIES}
        self._gen_reference()
        opt_base = 100
        self.custom = {}
        for e in F.CUSTOM_ENTITIES:
            self.custom[e] = F.build_custom_fields(seed, e, opt_base, START)
            opt_base += 1000
        self._custom_gen = {e: list(fl) for e, fl in self.custom.items()}  # as generated: the value draws follow it
        self.custom_by_key = {e: {f.key: f for f in fl} for e, fl in self.custom.items()}
        self.pools = {}  # read by F.custom_value; values are shared, so records must be treated as read-only
        for fl in self.custom.values():
            for f in fl:
                if f.type in F.POOLED_TYPES:
                    pr = Random(f"{seed}:{f.key}:pool")
                    self.pools[f.key] = [F.fresh_value(pr, f, self) for _ in range(251)]
        # activityFields lists a custom field although activity records carry no custom_fields (§8.15, openapi example)
        self.activity_custom = [F.CustomField(hashlib.sha1(f"{seed}:activities:Ergebnis".encode()).hexdigest(),
                                              "Ergebnis", "enum", [(9001, "Erfolgreich", None), (9002, "Не дозвонился", None)],
                                              [], 0, START + 86400)]
        for entity in ("organizations", "persons", "deals", "products", "leads", "activities", "notes"):
            getattr(self, "_gen_" + entity)(Random(f"{seed}:{entity}:columns"), self.base_n[entity])
        self._pick_showcase_deals()
        self._derived: dict = {}
        self._init_catalogue()

    # ---- reference data (small, static) -------------------------------------------------------------------
    def _gen_reference(self) -> None:
        r = Random(f"{self.seed}:reference")
        self.users = []
        for i in range(1, self.n_users + 1):
            first, last = r.choice(_FIRST), r.choice(_LAST)
            created = START - 86400 * r.randint(30, 900)
            # the last user is deactivated: still listed by /v1/users and still owning old records (realistic)
            active = i < self.n_users or self.n_users < 4
            self.users.append({
                "id": i, "name": f"{first} {last}", "default_currency": "EUR", "locale": "en_US", "lang": 1,
                "email": f"user{i}@{self.company_domain}.example", "phone": None if i % 3 else f"+372 5555 {i:04d}",
                "activated": True, "last_login": v1_time(END - 3600 * i), "created": v1_time(created),
                "modified": v1_time(END - 86400 * i), "has_created_company": i == 1,
                "access": [{"app": "sales", "admin": i == 1, "permission_set_id": str(uuid.UUID(int=r.getrandbits(128), version=4))},
                           {"app": "global", "admin": i == 1, "permission_set_id": str(uuid.UUID(int=r.getrandbits(128), version=4))}],
                "active_flag": active, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00",
                "role_id": 1, "icon_url": None, "is_you": i == 1, "is_deleted": False,
            })
        self.active_users = [u["id"] for u in self.users if u["active_flag"]]
        base = START - 86400 * 30
        self.pipelines = [
            {"id": p, "name": name, "order_nr": p, "is_deleted": False, "is_deal_probability_enabled": p != 3,
             "add_time": v2_time(base + p * 3600), "update_time": v2_time(base + p * 7200)}
            for p, name in ((1, "Sales"), (2, "Partner­schaften Europa"), (3, "Продления ✨"))
        ]
        stage_names = ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Négociation")
        self.stages = []
        for p in range(1, 4):
            for j, name in enumerate(stage_names):
                sid = (p - 1) * 5 + j + 1
                self.stages.append({
                    "id": sid, "order_nr": j + 1, "name": name, "is_deleted": False, "deal_probability": (j + 1) * 20,
                    "pipeline_id": p, "is_deal_rot_enabled": j % 2 == 0, "days_to_rotten": 30 if j % 2 == 0 else None,
                    "add_time": v2_time(base + sid * 600), "update_time": v2_time(base + sid * 900),
                })
        self.lead_labels = []
        for name, color in (("Hot", "red"), ("Warm", "yellow"), ("Kalt ❄", "blue")):
            self.lead_labels.append({"id": str(uuid.UUID(int=r.getrandbits(128), version=4)), "name": name,
                                     "color": color, "add_time": ms_time(base * 1000 + r.randrange(1000)),
                                     "update_time": ms_time(base * 1000 + r.randrange(1000))})
        self.lead_label_ids = [x["id"] for x in self.lead_labels]
        a, b, c = self.lead_label_ids
        self.lead_label_sets = ((), (), (a,), (b,), (c,), (a, b), (a, c))

    # ---- column generation ----------------------------------------------------------------------------------
    def _times(self, t: Table, r: Random, n: int, archive_rate: float = 0.0, delete_rate: float = 0.03) -> None:
        add = sorted(START + int(r.random() * SPAN) for _ in range(n))  # ids grow with creation time, as in Pipedrive
        n_slots = max(1, n * 12 // 300)
        slots = sorted(START + int(r.random() * SPAN) for _ in range(n_slots))
        upd = [0] * n
        for k in range(n):
            a, x = add[k], r.random()
            if x < 0.25:
                u = a  # never edited
            elif x < 0.37:  # a "hot" second shared with other records
                j = bisect_left(slots, a)
                u = slots[r.randrange(j, n_slots)] if j < n_slots else a
            else:
                u = a + int((END - a) * r.random())
            upd[k] = u
        bulk = END - 86400 * r.randint(5, 40) + r.randrange(86400)  # one bulk edit touching many rows at once
        eligible = bisect_right(add, bulk)
        for k in r.sample(range(eligible), min(eligible, min(1500, max(2, n // 100)))):
            upd[k] = bulk
        flags = bytearray(n)
        for k in range(n):
            x = r.random()
            if x < delete_rate:
                flags[k] = DELETED
                upd[k] = upd[k] + int((END - upd[k]) * r.random())  # update_time = delete time (§2.6)
            elif x < delete_rate + archive_rate:
                flags[k] = ARCHIVED
        t.add.extend(add)
        t.upd.extend(upd)
        t.upd0.extend(upd)
        t.flags.extend(flags)

    def _owner(self, r: Random) -> int:
        rnd = r.random  # arithmetic rather than choice/randint: this also runs on the cold render path
        if rnd() < 0.95:
            return _pick(rnd, self.active_users)
        return 1 + int(rnd() * self.n_users)

    def _gen_organizations(self, r: Random, n: int) -> None:
        t = self.tables["organizations"]
        self._times(t, r, n)
        t.cols["owner_id"] = array("i", (self._owner(r) for _ in range(n)))

    def _gen_persons(self, r: Random, n: int) -> None:
        t = self.tables["persons"]
        self._times(t, r, n)
        t.cols["owner_id"] = array("i", (self._owner(r) for _ in range(n)))
        t.cols["org_id"] = array("i", (r.randint(1, self.n_orgs) if r.random() < 0.7 else 0 for _ in range(n)))

    def _gen_deals(self, r: Random, n: int) -> None:
        t = self.tables["deals"]
        self._times(t, r, n, archive_rate=0.04)
        c = t.cols
        c["owner_id"] = array("i", (self._owner(r) for _ in range(n)))
        c["person_id"] = array("i", (r.randint(1, self.n_persons) if r.random() < 0.85 else 0 for _ in range(n)))
        porg = self.tables["persons"].cols["org_id"]
        c["org_id"] = array("i", (porg[p - 1] if p and porg[p - 1] else (r.randint(1, self.n_orgs) if r.random() < 0.5 else 0)
                                  for p in c["person_id"]))
        c["pipeline_id"] = array("i", (r.choice((1, 1, 1, 2, 3)) for _ in range(n)))
        c["stage_id"] = array("i", ((p - 1) * 5 + r.randint(1, 5) for p in c["pipeline_id"]))
        c["status"] = array("b", (0 if x < 0.6 else 1 if x < 0.85 else 2 for x in (r.random() for _ in range(n))))
        c["n_products"] = array("b", (0 if r.random() < 0.5 else r.randint(1, 3) for _ in range(n)))

    def _gen_products(self, r: Random, n: int) -> None:
        t = self.tables["products"]
        self._times(t, r, n)
        t.cols["owner_id"] = array("i", (self._owner(r) for _ in range(n)))
        t.cols["n_variations"] = array("b", (0 if r.random() < 0.7 else r.randint(1, 3) for _ in range(n)))

    def _gen_leads(self, r: Random, n: int) -> None:
        t = self.tables["leads"]
        self._times(t, r, n, archive_rate=0.05)
        for k in range(n):  # leads keep milliseconds (§3.2)
            ms_add = _mix(t.salt + k) % 1000
            ms_upd = ms_add if t.upd[k] == t.add[k] else _mix(t.salt + k + (1 << 40)) % 1000
            t.add[k] = t.add[k] * 1000 + ms_add
            t.upd[k] = t.upd0[k] = t.upd[k] * 1000 + ms_upd
        t.cols["owner_id"] = array("i", (self._owner(r) for _ in range(n)))
        person = array("i", (r.randint(1, self.n_persons) if r.random() < 0.7 else 0 for _ in range(n)))
        t.cols["person_id"] = person
        t.cols["org_id"] = array("i", (r.randint(1, self.n_orgs) if (not p or r.random() < 0.4) else 0 for p in person))
        self.lead_uuids = [str(uuid.UUID(int=r.getrandbits(128), version=4)) for _ in range(n)]
        self.lead_index = {u: k for k, u in enumerate(self.lead_uuids)}

    def _gen_activities(self, r: Random, n: int) -> None:
        t = self.tables["activities"]
        self._times(t, r, n)
        c = t.cols
        nd, nl = self.base_n["deals"], self.base_n["leads"]
        dperson, dorg = self.tables["deals"].cols["person_id"], self.tables["deals"].cols["org_id"]
        porg = self.tables["persons"].cols["org_id"]
        deal, person, org, lead = array("i"), array("i"), array("i"), array("i")
        for _ in range(n):
            d = r.randint(1, nd) if r.random() < 0.6 else 0
            p = dperson[d - 1] if d else (r.randint(1, self.n_persons) if r.random() < 0.5 else 0)
            deal.append(d)
            person.append(p)
            org.append(dorg[d - 1] if d else (porg[p - 1] if p else 0))
            lead.append(r.randint(1, nl) if (not d and r.random() < 0.15) else 0)
        c["deal_id"], c["person_id"], c["org_id"], c["lead"] = deal, person, org, lead
        c["owner_id"] = array("i", (self._owner(r) for _ in range(n)))
        c["done"] = array("b", (1 if r.random() < 0.5 else 0 for _ in range(n)))
        c["due"] = array("q", ((a + 86400 * r.randint(-30, 60)) // 86400 * 86400 for a in t.add))

    def _gen_notes(self, r: Random, n: int) -> None:
        t = self.tables["notes"]
        self._times(t, r, n)
        c = t.cols
        c["user_id"] = array("i", (self._owner(r) for _ in range(n)))
        c["deal_id"] = array("i", (r.randint(1, self.base_n["deals"]) if r.random() < 0.5 else 0 for _ in range(n)))
        c["person_id"] = array("i", (r.randint(1, self.n_persons) if r.random() < 0.3 else 0 for _ in range(n)))
        c["org_id"] = array("i", (r.randint(1, self.n_orgs) if r.random() < 0.2 else 0 for _ in range(n)))
        c["lead"] = array("i", (r.randint(1, self.base_n["leads"]) if r.random() < 0.1 else 0 for _ in range(n)))

    def _pick_showcase_deals(self) -> None:
        """Up to two archived (not deleted) deals that carry every kind of per-deal child: followers and their
        changelog, participants and their changelog, discounts, installments, products, mail, and -- when the deal
        was ever edited -- changelog and flow entries. Archived deals are ~4% of a table, so a small account would
        otherwise often have no archived deal with, say, a discount, and a client that skips archived deals'
        children would go unnoticed. Edited deals with a contact person are preferred. Their children are forced
        in the child generators (catalogue.py); the deals themselves are rendered exactly as generated."""
        t = self.tables["deals"]
        archived = [k for k in range(t.n) if t.flags[k] == ARCHIVED]
        rich = [k for k in archived if t.upd0[k] > t.add[k] and t.cols["person_id"][k]]
        picked = (rich + [k for k in archived if k not in rich])[:2]
        self.showcase_deals = frozenset(k + 1 for k in picked)
        # a showcase deal without products gets one; deal() keeps drawing as generated (arr stays what it was)
        self.products_as_generated = {}
        for k in picked:
            if not t.cols["n_products"][k]:
                self.products_as_generated[k + 1] = 0
                t.cols["n_products"][k] = 1

    # ---- cheap derived values used across entities ----------------------------------------------------------
    def _rng(self, entity: str, rid: int, stream: int = 0) -> Random:
        return Random(self.tables[entity].salt + rid * 8 + stream)

    # Names as first generated (_base_*) feed other records' own text (a deal title mentions its org); the current
    # names (with overrides) feed joins such as a note's nested {"organization": {"name": ...}}.
    def _base_org_name(self, oid: int) -> str:
        x = _mix(self.tables["organizations"].salt + oid)
        return f"{_ORG_WORDS[x % len(_ORG_WORDS)]} {_ORG_SUFFIX[(x >> 8) % len(_ORG_SUFFIX)]} {oid}"

    def _base_person_names(self, pid: int):
        x = _mix(self.tables["persons"].salt + pid)
        return _FIRST[x % len(_FIRST)], _LAST[(x >> 8) % len(_LAST)]

    def org_name(self, oid: int) -> str:
        ov = self.tables["organizations"].over.get(oid)
        return ov["name"] if ov and "name" in ov else self._base_org_name(oid)

    def person_names(self, pid: int):
        ov = self.tables["persons"].over.get(pid)
        return (ov["first_name"], ov["last_name"]) if ov and "name" in ov else self._base_person_names(pid)

    def deal_title(self, did: int) -> str:
        ov = self.tables["deals"].over.get(did)
        if ov and "title" in ov:
            return ov["title"]
        x = _mix(self.tables["deals"].salt + did)
        org = self.tables["deals"].cols["org_id"][did - 1]
        name = self._base_org_name(org) if org else " ".join(self._base_person_names(max(1, x % self.n_persons)))
        return _DEAL_PATTERNS[x % len(_DEAL_PATTERNS)].format(org=name, q=x % 4 + 1)

    def deal_currency(self, did: int) -> str:
        ov = self.tables["deals"].over.get(did)
        if ov and "currency" in ov:
            return ov["currency"]
        return self.currency_codes[(_mix(self.tables["deals"].salt ^ did) >> 3) % 5]

    def product_name(self, pid: int) -> str:
        ov = self.tables["products"].over.get(pid)
        if ov and "name" in ov:
            return ov["name"]
        x = _mix(self.tables["products"].salt + pid)
        return f"{_PRODUCTS[x % len(_PRODUCTS)]} #{pid}"

    def _custom(self, r: Random, entity: str) -> dict:
        # values are drawn over the fields as generated, so adding or deleting a field (reference.py) leaves every
        # other field's value as it was; then the current definitions decide which keys the record carries
        values = {f.key: F.custom_value(r, f, self) for f in self._custom_gen[entity]}
        if entity in self._fields_touched:
            values = {f.key: values.get(f.key) for f in self.custom[entity]}
        return values

    def _apply(self, t: Table, rid: int, rec: dict) -> dict:
        ov = t.over.get(rid)
        if ov:
            for k, v in ov.items():
                if k == "custom_fields":
                    merged = {**rec["custom_fields"], **v}
                    if t.name in self._fields_touched:  # values of a deleted field are gone
                        live = self.custom_by_key[t.name]
                        merged = {key: val for key, val in merged.items() if key in live}
                    rec["custom_fields"] = merged
                else:
                    rec[k] = v
        return rec

    # ---- record builders (v2 shapes, openapi v2 response schemas; leads/notes in v1 shapes) -----------------
    def _deal_head(self, did: int):
        """The first draws of a deal's generator, in deal()'s order (the money summary needs only these, without
        rendering the record): (rng, closed, lost reason, stage change, arr, creator, value, archive ts, probability)."""
        t = self.tables["deals"]
        k, c = did - 1, t.cols
        r = self._rng("deals", did)
        rnd = r.random
        add, upd0, fl = t.add[k], t.upd0[k], t.flags[k]
        span = max(1, upd0 - add)
        # draw the same numbers whatever the (mutable) status, so a status change alters nothing else
        closed = add + int(span * rnd())
        reason = _pick(rnd, _LOST_REASONS)
        stage_change = add + int(span * rnd()) if rnd() < 0.6 else None
        nprod = c["n_products"][k]
        if self.products_as_generated:  # showcase deals draw as generated, whatever products they were given
            nprod = self.products_as_generated.get(did, nprod)
        arr = round(_uniform(rnd, 1000, 50000), 2) if nprod and rnd() < 0.5 else None
        creator = self._owner(r)
        value = round(_uniform(rnd, 0, 250000), 2) if rnd() < 0.9 else 0
        archived = add + int(span * rnd()) if fl & ARCHIVED else None
        probability = _randint(rnd, 0, 100) if rnd() < 0.3 else None
        return r, closed, reason, stage_change, arr, creator, value, archived, probability

    def deal_money(self, did: int):
        """(value, currency, probability) of a deal as deal() renders it, overrides included; cheap."""
        _, _, _, _, _, _, value, _, probability = self._deal_head(did)
        ov = self.tables["deals"].over.get(did) or {}
        return ov.get("value", value), self.deal_currency(did), ov.get("probability", probability)

    def deal(self, did: int) -> dict:
        t = self.tables["deals"]
        k, c = did - 1, t.cols
        r, closed, reason, stage_change, arr, creator, value, archived, probability = self._deal_head(did)
        rnd = r.random
        add, fl = t.add[k], t.flags[k]
        st = STATUS[c["status"][k]]
        if st == "open":
            closed = None
        rec = {
            "id": did, "title": self.deal_title(did), "creator_user_id": creator, "owner_id": c["owner_id"][k],
            "value": value,
            "person_id": c["person_id"][k] or None, "org_id": c["org_id"][k] or None,
            "stage_id": c["stage_id"][k], "pipeline_id": c["pipeline_id"][k], "currency": self.deal_currency(did),
            "archive_time": v2_time(archived),
            "add_time": v2_time(add), "update_time": v2_time(t.upd[k]),
            "stage_change_time": v2_time(stage_change),
            "status": "deleted" if fl & DELETED else st, "is_archived": bool(fl & ARCHIVED),
            "is_deleted": bool(fl & DELETED),
            "probability": probability,
            "lost_reason": reason if st == "lost" else None,
            "visible_to": _pick(rnd, (3, 3, 3, 1, 5, 7)),
            "close_time": v2_time(closed),
            "won_time": v2_time(closed) if st == "won" else None,
            "lost_time": v2_time(closed) if st == "lost" else None,
            "local_won_date": date_str(closed) if st == "won" else None,
            "local_lost_date": date_str(closed) if st == "lost" else None,
            "local_close_date": date_str(closed),
            "expected_close_date": date_str(add + 86400 * _randint(rnd, 7, 180)) if rnd() < 0.7 else None,
            "label_ids": list(_pick(rnd, _LABEL_SETS)),
            "origin": _pick(rnd, ("ManuallyCreated", "ManuallyCreated", "API", "Import", "WebForms")),
            "origin_id": None, "channel": _pick(rnd, (None, None, None, 52, 53)), "channel_id": None,
            "acv": arr, "arr": arr, "mrr": round(arr / 12, 2) if arr is not None else None,
            "custom_fields": self._custom(r, "deals"),
        }
        if rec["origin"] == "API":
            rec["origin_id"] = f"integration-{_randint(rnd, 1, 9)}"
        if rec["channel"] is not None:
            rec["channel_id"] = _pick(rnd, ("Jun23 Billboards", "Newsletter Q3", None))
        return self._apply(t, did, rec)

    def person(self, pid: int) -> dict:
        t = self.tables["persons"]
        k = pid - 1
        r = self._rng("persons", pid)
        rnd = r.random
        first, last = self.person_names(pid)
        emails = [{"value": f"contact{pid}.{j}@example.com", "primary": j == 0, "label": ("work", "home", "other")[j]}
                  for j in range(_pick(rnd, (0, 1, 1, 1, 2)))]
        phones = [{"value": f"+49 30 {_randint(rnd, 1000000, 9999999)}", "primary": j == 0, "label": ("work", "mobile")[j]}
                  for j in range(_pick(rnd, (0, 1, 1, 2)))]
        rec = {
            "id": pid, "name": f"{first} {last}", "first_name": first, "last_name": last,
            "owner_id": t.cols["owner_id"][k], "org_id": t.cols["org_id"][k] or None,
            "add_time": v2_time(t.add[k]), "update_time": v2_time(t.upd[k]),
            "emails": emails, "phones": phones, "is_deleted": bool(t.flags[k] & DELETED),
            "visible_to": _pick(rnd, (3, 3, 1, 7)), "label_ids": list(_pick(rnd, _LABEL_SETS)),
            "picture_id": _randint(rnd, 1, 10000) if rnd() < 0.1 else None,
            "custom_fields": self._custom(r, "persons"),
        }
        return self._apply(t, pid, rec)

    def organization(self, oid: int) -> dict:
        t = self.tables["organizations"]
        k = oid - 1
        r = self._rng("organizations", oid)
        rnd = r.random
        rec = {
            "id": oid, "name": self.org_name(oid), "owner_id": t.cols["owner_id"][k],
            "add_time": v2_time(t.add[k]), "update_time": v2_time(t.upd[k]), "is_deleted": bool(t.flags[k] & DELETED),
            "visible_to": _pick(rnd, (3, 3, 1, 7)),
            "address": F.address_value(r) if rnd() < 0.6 else None,
            "label_ids": list(_pick(rnd, _LABEL_SETS)),
            "website": f"https://org{oid}.example.com" if rnd() < 0.5 else None,
            "linkedin": f"https://www.linkedin.com/company/org{oid}" if rnd() < 0.2 else None,
            "industry": _pick(rnd, (None, 1, 2, 3)),
            "annual_revenue": _randint(rnd, 0, 10 ** 8) if rnd() < 0.3 else None,
            "employee_count": _randint(rnd, 1, 5000) if rnd() < 0.4 else None,
            "custom_fields": self._custom(r, "organizations"),
        }
        return self._apply(t, oid, rec)

    def activity(self, aid: int) -> dict:
        t = self.tables["activities"]
        k, c = aid - 1, t.cols
        r = self._rng("activities", aid)
        rnd = r.random
        done = bool(c["done"][k])
        person = c["person_id"][k]
        lead = c["lead"][k]
        rec = {
            "id": aid, "subject": f"{_pick(rnd, _SUBJECTS)} #{aid}", "type": _pick(rnd, _ACTIVITY_TYPES)[2],
            "owner_id": c["owner_id"][k], "creator_user_id": self._owner(r), "is_deleted": bool(t.flags[k] & DELETED),
            "add_time": v2_time(t.add[k]), "update_time": v2_time(t.upd[k]),
            "deal_id": c["deal_id"][k] or None, "lead_id": self.lead_uuids[lead - 1] if lead else None,
            "person_id": person or None, "org_id": c["org_id"][k] or None, "project_id": None,
            "due_date": date_str(c["due"][k]),
            "due_time": f"{_randint(rnd, 7, 18):02d}:{_pick(rnd, (0, 30)):02d}" if rnd() < 0.7 else None,
            "duration": _pick(rnd, ("00:30", "01:00", "00:15", None)), "busy": rnd() < 0.5, "done": done,
            "marked_as_done_time": v2_time(t.upd0[k]) if done else None,
            "location": F.address_value(r) if rnd() < 0.2 else None,
            "participants": [{"person_id": person, "primary": True}] if person else [],
            "conference_meeting_client": None, "conference_meeting_url": None, "conference_meeting_id": None,
            "public_description": None, "priority": _pick(rnd, (None, None, 1, 2, 3)),
            "note": _pick(rnd, _NOTE_TEXT) or None,
        }
        if rec["type"] == "meeting" and rnd() < 0.5:
            rec["conference_meeting_client"] = "google_meet"
            rec["conference_meeting_id"] = f"abc-{aid}"
            rec["conference_meeting_url"] = f"https://meet.google.com/abc-{aid}"
        return self._apply(t, aid, rec)

    def attendees(self, rec: dict) -> list:
        out = []
        if rec["person_id"]:
            first, last = self.person_names(rec["person_id"])
            out.append({"email": f"contact{rec['person_id']}.0@example.com", "name": f"{first} {last}",
                        "status": "accepted", "is_organizer": False, "person_id": rec["person_id"], "user_id": None})
        u = self.users[rec["owner_id"] - 1]
        out.append({"email": u["email"], "name": u["name"], "status": "accepted", "is_organizer": True,
                    "person_id": None, "user_id": u["id"]})
        return out

    def product(self, pid: int) -> dict:
        t = self.tables["products"]
        k = pid - 1
        r = self._rng("products", pid)
        rnd = r.random
        prices = []
        for cur in _pick(rnd, _CURRENCY_SETS):
            price = round(_uniform(rnd, 5, 5000), 2)
            prices.append({"product_id": pid, "price": price, "currency": cur, "cost": round(price * 0.6, 2),
                           "direct_cost": round(price * 0.1, 2) if rnd() < 0.5 else None, "notes": ""})
        freq = _pick(rnd, ("one-time", "one-time", "monthly", "annually", "quarterly"))
        rec = {
            "id": pid, "name": self.product_name(pid), "code": f"SKU-{pid:05d}" if rnd() < 0.8 else None,
            "description": _pick(rnd, ("", "Beschreibung äöü", "Описание", None)), "unit": _pick(rnd, ("", "pcs", "h", "Stück")),
            "tax": _pick(rnd, (0, 0, 9, 19, 20, 22)), "category": _pick(rnd, (None, "1", "2", "3")),
            "is_linkable": rnd() < 0.9, "is_deleted": bool(t.flags[k] & DELETED),
            "visible_to": _pick(rnd, (3, 3, 1, 7)), "owner_id": t.cols["owner_id"][k],
            "add_time": v2_time(t.add[k]), "update_time": v2_time(t.upd[k]),
            "billing_frequency": freq,
            "billing_frequency_cycles": None if freq == "one-time" else _pick(rnd, (None, 12, 24)),
            "prices": prices, "custom_fields": self._custom(r, "products"),
        }
        return self._apply(t, pid, rec)

    def lead(self, lid: int) -> dict:
        """v1 lead (openapi v1 getLeads); deal custom fields flat at the root, unset ones omitted."""
        t = self.tables["leads"]
        k, c = lid - 1, t.cols
        r = self._rng("leads", lid)
        rnd = r.random
        person, org = c["person_id"][k], c["org_id"][k]
        name = self._base_org_name(org) if org else " ".join(self._base_person_names(person))
        rec = {
            "id": self.lead_uuids[k], "title": f"{name} lead", "owner_id": c["owner_id"][k],
            "creator_id": self._owner(r), "label_ids": self._live_lead_labels(sorted(_pick(rnd, self.lead_label_sets))),
            "person_id": person or None, "organization_id": org or None,
            "source_name": _pick(rnd, _LEAD_SOURCES), "origin": _pick(rnd, ("ManuallyCreated", "API", "Import")),
            "origin_id": None, "channel": _pick(rnd, (None, None, 52)), "channel_id": None, "source_deal_id": None,
            "is_archived": bool(t.flags[k] & ARCHIVED), "was_seen": rnd() < 0.6,
            "value": {"amount": round(_uniform(rnd, 100, 50000), 2), "currency": _pick(rnd, self.currency_codes)}
            if rnd() < 0.7 else None,
            "expected_close_date": date_str(t.add[k] // 1000 + 86400 * _randint(rnd, 7, 120)) if rnd() < 0.5 else None,
            "next_activity_id": None, "add_time": ms_time(t.add[k]), "update_time": ms_time(t.upd[k]),
            "visible_to": _pick(rnd, ("3", "3", "1")),
            "cc_email": f"{self.company_domain}+lead{lid}@pipedrivemail.com",
        }
        custom = self._custom(r, "deals")
        ov = t.over.get(lid)
        if ov:
            custom.update(ov.get("custom_fields", {}))
            rec.update({kk: v for kk, v in ov.items() if kk != "custom_fields"})
        rec.update(F.to_v1_flat(custom, self.custom["deals"]))
        return rec

    def note(self, nid: int) -> dict:
        """v1 note (openapi v1 getNotes) with its nested related-object names."""
        t = self.tables["notes"]
        k, c = nid - 1, t.cols
        r = self._rng("notes", nid)
        rnd = r.random
        deal, person, org, lead, user = c["deal_id"][k], c["person_id"][k], c["org_id"][k], c["lead"][k], c["user_id"][k]
        u = self.users[user - 1]
        rec = {
            "id": nid, "active_flag": not t.flags[k] & DELETED, "add_time": v1_time(t.add[k]),
            "content": _pick(rnd, _NOTE_TEXT), "deal": {"title": self.deal_title(deal)} if deal else None,
            "lead_id": self.lead_uuids[lead - 1] if lead else None, "deal_id": deal or None,
            "last_update_user_id": user, "org_id": org or None,
            "organization": {"name": self.org_name(org)} if org else None,
            "person": {"name": " ".join(self.person_names(person))} if person else None,
            "person_id": person or None, "project_id": None, "project": None, "task_id": None, "task": None,
            "pinned_to_lead_flag": bool(lead) and rnd() < 0.2, "pinned_to_deal_flag": bool(deal) and rnd() < 0.2,
            "pinned_to_organization_flag": bool(org) and rnd() < 0.1,
            "pinned_to_person_flag": bool(person) and rnd() < 0.1, "pinned_to_project_flag": False,
            "pinned_to_task_flag": False,
            "update_time": v1_time(t.upd[k]),
            "user": {"email": u["email"], "icon_url": u["icon_url"], "is_you": u["is_you"], "name": u["name"]},
            "user_id": user,
        }
        return self._apply(t, nid, rec)

    def record(self, entity: str, rid: int) -> dict:
        return getattr(self, _BUILDER[entity])(rid)

    # ---- rendered-bytes cache -------------------------------------------------------------------------------
    def cached_bytes(self, entity: str, rid: int, variant, render) -> bytes:
        t = self.tables[entity]
        per = t.cache.get(variant)
        if per is None:
            per = t.cache[variant] = {}
        b = per.get(rid)
        if b is None:
            b = render(rid)
            if self._cached > self.cache_bytes:  # bounded memory: drop everything and start over
                for tt in self.tables.values():
                    tt.cache.clear()
                self._cached = 0
                per = t.cache[variant] = {}
            per[rid] = b
            self._cached += len(b) + 80
        return b

    def v2_default_bytes(self, entity: str, rid: int) -> bytes:
        return self.cached_bytes(entity, rid, "v2", lambda i: dumps(self.record(entity, i)))

    # ---- sorted indexes for keyset pagination -----------------------------------------------------------------
    def index(self, entity: str, sort_by: str) -> list:
        """Sorted list of (key << 32 | id) ints (or (key, id) tuples for text keys), rebuilt lazily after changes."""
        t = self.tables[entity]
        hit = t.indexes.get(sort_by)
        if hit is not None and hit[0] == t.version:
            return hit[1]
        n = t.n
        if sort_by == "id":
            idx = list(range(1, n + 1))
        elif sort_by in ("update_time", "add_time", "due_date"):
            col = {"update_time": t.upd, "add_time": t.add, "due_date": t.cols.get("due")}[sort_by]
            idx = sorted((col[k] << 32) | (k + 1) for k in range(n))
        elif sort_by == "name":
            idx = sorted((self.product_name(k + 1), k + 1) for k in range(n))
        else:
            raise KeyError(sort_by)
        t.indexes[sort_by] = (t.version, idx)
        return idx

    def sort_key(self, entity: str, sort_by: str, rid: int):
        t = self.tables[entity]
        k = rid - 1
        if sort_by == "id":
            return rid
        if sort_by == "update_time":
            return t.upd[k]
        if sort_by == "add_time":
            return t.add[k]
        if sort_by == "due_date":
            return t.cols["due"][k]
        return self.product_name(rid)

    # ---- children: followers, deal products, variations -----------------------------------------------------
    def followers(self, entity: str, rid: int) -> list:
        """Follower = {user_id, add_time} (openapi v2 getDealFollowers), oldest first.

        Deals, persons, organizations, products: Pipedrive makes the owner a follower when the record is created
        (inferred from the UI default); ~10% of owners have unfollowed since. 0-2 colleagues follow as well, so a
        few records have no follower at all. Users: see _user_followers."""
        if entity == "users":
            return self._user_followers(rid)
        t = self.tables[entity]
        r = self._rng(entity, rid, 1)
        rnd = r.random
        base, owner = t.add[rid - 1], t.cols["owner_id"][rid - 1]
        others = [u for u in self.active_users if u != owner]
        users = [owner] if rnd() < 0.9 else []
        n_more = (0, 0, 0, 1, 1, 2)[int(rnd() * 6)]
        if entity == "deals" and rid in self.showcase_deals:
            users, n_more = [owner], max(1, n_more)
        for _ in range(min(n_more, len(others))):
            u = others[int(rnd() * len(others))]
            others.remove(u)
            users.append(u)
        out = []
        for j, u in enumerate(users):
            added = base if j == 0 and u == owner else base + 3600 * j + int(rnd() * 86400)
            if base > END:  # created by a mutation, at the clock's now: followed on creation, never in the future
                added = base
            out.append({"user_id": u, "add_time": v2_time(added)})
        return out

    def _user_followers(self, uid: int) -> list:
        """GET /api/v2/users/{id}/followers: the users who follow user `uid` (never the user itself, inferred).
        The company admin (user 1, the token user) follows every colleague, the whole team follows user 2 (the
        sales lead), and the others follow each other now and then -- so some users have several followers."""
        r = Random(_salt(self.seed, "user-followers") + uid)
        users = [v for v in self.active_users if v != uid and (v == 1 or uid == 2 or r.random() < 0.3)]
        out = [{"user_id": u, "add_time": v2_time(START + 86400 * (j + 1) + 3600 * u)} for j, u in enumerate(users)]
        return self._ref_children("user_followers", uid, out, key="user_id")

    def _offsets(self, entity: str, col: str) -> array:
        t = self.tables[entity]
        key = (entity, col)
        hit = self._derived.get(key)
        if hit is not None and hit[0] == t.n:
            return hit[1]
        acc, total = array("q"), 0
        for x in t.cols[col]:
            acc.append(total)
            total += x
        self._derived[key] = (t.n, acc)
        return acc

    def deal_products(self, did: int) -> list:
        t = self.tables["deals"]
        k = did - 1
        base_id = self._offsets("deals", "n_products")[k]
        out = []
        for j in range(t.cols["n_products"][k]):
            dp = base_id + j + 1
            r = Random(_salt(self.seed, "deal-products") + dp)
            prod = r.randint(1, self.base_n["products"])
            qty = r.choice((1, 1, 2, 5, 0.5))
            price = round(r.uniform(10, 2000), 2)
            disc = r.choice((0, 0, 5, 10))
            total = round(qty * price * (1 - disc / 100), 2)
            freq = r.choice(("one-time", "one-time", "monthly", "annually"))
            # created by a mutation (at the clock's now): its products were added with it, never in the future
            ts = t.add[k] if t.add[k] > END else t.add[k] + 60 * (j + 1)
            out.append({
                "id": dp, "sum": total, "tax": r.choice((0, 19, 20)), "deal_id": did, "name": self.product_name(prod),
                "product_id": prod, "product_variation_id": None, "order_nr": j + 1,
                "add_time": v2_time(ts), "update_time": v2_time(ts), "comments": "", "currency": self.deal_currency(did),
                "discount": disc, "quantity": qty, "item_price": price,
                "tax_method": r.choice(("exclusive", "inclusive", "none")), "discount_type": "percentage",
                "is_enabled": True, "billing_frequency": freq,
                "billing_frequency_cycles": None if freq == "one-time" else 12,
                "billing_start_date": date_str(ts) if freq != "one-time" else None,
            })
        return out

    def deal_product_count(self, did: int) -> int:
        """len(deal_products(did)) without rendering them (include_fields products_count)."""
        return self.tables["deals"].cols["n_products"][did - 1]

    def variations(self, pid: int) -> list:
        t = self.tables["products"]
        k = pid - 1
        base_id = self._offsets("products", "n_variations")[k]
        out = []
        for j in range(t.cols["n_variations"][k]):
            vid = base_id + j + 1
            r = Random(_salt(self.seed, "variations") + vid)
            price = round(r.uniform(5, 500), 2)
            out.append({"id": vid, "name": f"{self.product_name(pid)} – {('S', 'M', 'XL')[j]}", "product_id": pid,
                        "prices": [{"product_variation_id": vid, "price": price, "currency": "EUR",
                                    "cost": round(price / 2, 2), "direct_cost": None, "notes": ""}]})
        return self._ref_children("product_variations", pid, out)

    def counts(self, src: str, col: str, where=None) -> dict:
        """Per-parent counts of child rows (for include_fields *_count); cached per child-table version."""
        t = self.tables[src]
        key = ("counts", src, col, where)
        hit = self._derived.get(key)
        if hit is not None and hit[0] == (t.version, t.n):
            return hit[1]
        out: dict = {}
        ref, flags = t.cols[col], t.flags
        cond = t.cols.get(where[0]) if where else None
        for k in range(t.n):
            p = ref[k]
            if p and not flags[k] & DELETED and (cond is None or cond[k] == where[1]):
                out[p] = out.get(p, 0) + 1
        self._derived[key] = ((t.version, t.n), out)
        return out

    # ---- v1 files / call logs / filters (small, static) ------------------------------------------------------
    def files(self, with_deleted: bool = False) -> list:
        """GET /v1/files items with the reference changes applied (reference.py); with_deleted=True adds the files
        deleted through delete_reference, as /v1/recents still shows them (active_flag false)."""
        if with_deleted:
            return self._ref_apply("files", self._files_base(), keep_gone=True)
        if "files" not in self._derived:
            self._derived["files"] = self._ref_apply("files", self._files_base())
            self._files_version = getattr(self, "_files_version", 0) + 1  # counts.py memoises per version
        return self._derived["files"]

    def _files_base(self) -> list:
        if "files-base" not in self._derived:
            r = Random(f"{self.seed}:files")
            out = []
            for i in range(1, max(3, self.scale // 20) + 1):
                add = START + int(r.random() * SPAN)
                upd = add + int((END - add) * r.random() * 0.1)
                deal = r.randint(1, self.base_n["deals"]) if r.random() < 0.6 else None
                # files not on a deal: on a person, an organization, or on nothing listed here (an activity, an
                # e-mail); drawn from their own stream so the deal links stay as they were
                rl = Random(_salt(self.seed, "file-links") + i)
                x = rl.random()
                person = rl.randint(1, self.n_persons) if deal is None and x < 0.35 else None
                org = rl.randint(1, self.n_orgs) if deal is None and 0.35 <= x < 0.6 else None
                out.append({
                    "id": i, "user_id": self._owner(r), "deal_id": deal, "person_id": person, "org_id": org,
                    "product_id": None, "activity_id": None, "lead_id": None, "project_id": None, "log_id": None,
                    "add_time": v1_time(add), "update_time": v1_time(upd),
                    "file_name": r.choice(("angebot_ä.pdf", "contract.docx", "счёт.xlsx", "写真.jpg")),
                    "file_type": r.choice(("pdf", "doc", "xls", "img")), "file_size": r.randint(1000, 9000000),
                    "active_flag": True, "inline_flag": False, "remote_location": "s3", "remote_id": None,
                    "cid": "", "s3_bucket": "", "mail_message_id": "", "mail_template_id": "",
                    "deal_name": self.deal_title(deal) if deal else "",
                    "person_name": " ".join(self.person_names(person)) if person else "",
                    "org_name": self.org_name(org) if org else "",
                    "product_name": "", "lead_name": "", "project_name": "",
                    "url": f"https://{self.company_domain}.pipedrive.com/v1/files/{i}/download",
                    "name": f"file {i}", "description": "",
                })
            self._derived["files-base"] = out
        return self._derived["files-base"]

    def call_logs(self) -> list:
        if "call_logs" not in self._derived:
            r = Random(f"{self.seed}:calllogs")
            out = []
            for i in range(max(3, min(300, self.scale // 20))):
                start_ms = (START + int(r.random() * SPAN)) * 1000
                dur = r.randint(0, 1800)
                out.append({
                    "id": "CA" + hashlib.md5(f"{self.seed}:{i}".encode()).hexdigest()[:28],
                    "activity_id": r.randint(1, self.base_n["activities"]), "person_id": r.randint(1, self.n_persons),
                    "org_id": None, "deal_id": None, "lead_id": None, "subject": r.choice(_SUBJECTS), "duration": str(dur),
                    "outcome": r.choice(("connected", "no_answer", "left_message", "left_voicemail", "wrong_number", "busy")),
                    "from_phone_number": "+37255550000", "to_phone_number": f"+4930{r.randint(1000000, 9999999)}",
                    "has_recording": r.random() < 0.3, "start_time": ms_time(start_ms),
                    "end_time": ms_time(start_ms + dur * 1000), "user_id": 1, "company_id": 1000 + self.seed,
                    "note": r.choice(("Rückruf vereinbart", "No answer", "Перезвонить")),
                })
            self._derived["call_logs"] = out
        return self._ref_apply("call_logs", self._derived["call_logs"])

    def filters(self, with_deleted: bool = False) -> list:
        """GET /v1/filters items (reference changes applied); with_deleted: as for files()."""
        base = START - 86400 * 10
        specs = ((1, "All open deals", "deals"), (2, "Meine Deals", "deals"), (3, "Hot leads 🔥", "leads"),
                 (4, "Organisations in Europe", "org"), (5, "Все контакты", "people"), (6, "Today's activities", "activity"),
                 (7, "Active products", "products"))
        return self._ref_apply("filters", [
            {"id": fid, "name": name, "filter_code": None, "is_editable": True, "active_flag": True, "type": typ,
             "temporary_flag": None, "user_id": 1, "add_time": v1_time(base + fid * 60),
             "update_time": v1_time(base + fid * 120), "visible_to": "7", "last_used_time": None,
             "custom_view_id": None} for fid, name, typ in specs], keep_gone=with_deleted)

    def activity_types(self) -> list:
        base = START - 86400 * 20
        return self._ref_apply("activity_types", [
            {"id": i, "order_nr": i, "name": name, "key_string": key, "icon_key": icon, "active_flag": True,
             "color": "FFFFFF", "is_custom_flag": i == 7, "add_time": v1_time(base + i * 60),
             "update_time": v1_time(base + i * 120)} for i, name, key, icon in _ACTIVITY_TYPES])

    def currencies(self) -> list:
        return [{"id": i, "code": code, "name": name, "decimal_points": dp, "symbol": sym, "active_flag": True,
                 "is_custom_flag": False} for i, code, name, dp, sym in _CURRENCIES]

    def lead_sources(self) -> list:
        return [{"name": n} for n in _LEAD_SOURCES]

    # ---- truth & mutation ------------------------------------------------------------------------------------
    def truth(self, entity: str) -> dict:
        if entity in CATALOGUE:  # secondary data sets: same as catalogue_truth(name) (a list, or {parent: list})
            return self.catalogue_truth(entity)
        with self.lock:
            if entity == "pipelines":
                return {p["id"]: dict(p) for p in self.pipelines}
            if entity == "stages":
                return {s["id"]: dict(s) for s in self.stages}
            if entity == "users":
                return {u["id"]: dict(u) for u in self.users}
            if entity in self.REFERENCE_TRUTH:  # reference data (reference.py): what its list endpoint serves
                return {k: loads(dumps(v)) for k, v in self.REFERENCE_TRUTH[entity](self).items()}
            t = self.tables[entity]
            out = {}
            for k in range(t.n):
                rec = loads(dumps(self.record(entity, k + 1)))  # a private copy exactly as it goes on the wire
                if entity in ("leads", "notes"):  # v1 shapes have no is_deleted: add the flag for the oracle
                    rec["is_deleted"] = bool(t.flags[k] & DELETED)
                out[rec["id"]] = rec
            return out

    def mutate(self, update_fraction: float = 0.01, add: int = 0, delete_fraction: float = 0.0,
               entities=None, same_second: bool = True) -> dict:
        with self.lock:
            self.mutations += 1
            r = Random(f"{self.seed}:mutation:{self.mutations}")
            now = int(self.clock())
            summary = {}
            for entity in entities or MAIN_ENTITIES:
                t = self.tables[entity]
                # archived deals/leads cannot be edited (CL-ARCH); deleted rows are gone for editing too
                alive = [k for k in range(t.n) if not t.flags[k]]
                n_upd = round(len(alive) * update_fraction)
                n_del = round(len(alive) * delete_fraction)
                picked = r.sample(alive, min(len(alive), n_upd + n_del))
                updated, deleted, added = [], [], []
                logged = entity in ("deals", "persons", "organizations")  # field history (catalogue.py)
                for k in picked[:n_upd]:
                    ts = now if same_second else int(self.clock())
                    before = self.record(entity, k + 1) if logged else None
                    self._update(entity, t, k, r, ts)
                    if logged:
                        self._log_update(entity, k + 1, before, self._after_update(entity, k + 1, before), ts)
                    updated.append(k)
                for k in picked[n_upd:]:
                    ts = now if same_second else int(self.clock())
                    t.flags[k] |= DELETED
                    self._stamp(t, k, ts, r)
                    if logged:
                        self._log_delete(entity, k + 1, ts)
                    deleted.append(k)
                for _ in range(add):
                    ts = now if same_second else int(self.clock())
                    added.append(self._add(entity, t, r, ts))
                t.version += 1
                for k in updated + deleted:
                    t.invalidate(k + 1)
                if updated and entity in ("deals", "persons", "organizations"):
                    # notes and files embed the current deal title / person / org name (a join, no update_time
                    # bump on the note): drop their rendered copies so they show the new names
                    self.tables["notes"].cache.clear()
                    self._derived.pop("files-base", None)
                    self._derived.pop("files", None)
                ident = (lambda k: self.lead_uuids[k]) if entity == "leads" else (lambda k: k + 1)
                summary[entity] = {"updated": [ident(k) for k in updated], "deleted": [ident(k) for k in deleted],
                                   "added": [ident(k) for k in added]}
            return summary

    def delete_records(self, entity: str, ids) -> list:
        """What DELETE /api/v2/{persons,organizations,activities,products,deals,pipelines,stages}/{id},
        DELETE /v1/{notes,leads,activityTypes}/{id} leave behind: a soft delete stamped now (§2.6). Activity types
        are only marked inactive and stay listed (openapi v1 deleteActivityType "Marks an activity type as deleted").
        Returns the ids deleted."""
        now = int(self.clock())
        done = []
        with self.lock:
            self.mutations += 1
            for rid in ids:
                if entity in ("pipelines", "stages"):
                    row = getattr(self, entity)[rid - 1]
                    row.update(is_deleted=True, update_time=v2_time(now))
                elif entity == "activity_types":
                    self._ref_write("activity_types", rid, {"active_flag": False, "update_time": v1_time(now)})
                else:
                    t = self.tables[entity]
                    k = self.lead_index[rid] if entity == "leads" else rid - 1
                    if t.flags[k] & DELETED:
                        continue
                    self._upd_before_delete[(entity, k)] = t.upd[k]
                    t.flags[k] |= DELETED
                    self._stamp(t, k, now, Random(f"{self.seed}:delete:{entity}:{rid}"))
                    self._log_delete(entity, k + 1, now)
                    t.version += 1
                    t.invalidate(k + 1)
                done.append(rid)
        return done

    def restore_records(self, entity: str, ids) -> list:
        """Restores soft-deleted rows of a main table ("Restore" in Pipedrive's UI, within 30 days). How the API
        dates a restored record is undocumented; inferred here as the worst case for a client: the update_time from
        before the deletion comes back, so an updated_since read never sees the record again."""
        done = []
        with self.lock:
            self.mutations += 1
            t = self.tables[entity]
            for rid in ids:
                k = rid - 1
                if not t.flags[k] & DELETED:
                    continue
                t.flags[k] &= ~DELETED
                if (entity, k) in self._upd_before_delete:
                    t.upd[k] = self._upd_before_delete.pop((entity, k))
                t.version += 1
                t.invalidate(k + 1)
                done.append(rid)
        return done

    def _stamp(self, t: Table, k: int, ts: int, r: Random) -> None:
        t.upd[k] = ts * 1000 + r.randrange(1000) if t.name == "leads" else ts

    def _update(self, entity: str, t: Table, k: int, r: Random, ts: int) -> None:
        rid = k + 1
        ov = t.over.setdefault(rid, {})
        tag = f" ✎{self.mutations}"
        if entity == "deals":
            ov["title"] = self.deal_title(rid).split(" ✎")[0] + tag
            ov["value"] = round(r.uniform(0, 250000), 2)
            if t.cols["status"][k] == 0 and r.random() < 0.2:
                t.cols["status"][k] = 1
                ov.update(won_time=v2_time(ts), close_time=v2_time(ts), local_won_date=date_str(ts),
                          local_close_date=date_str(ts), lost_time=None, local_lost_date=None)
            elif r.random() < 0.3:
                p = t.cols["pipeline_id"][k]
                t.cols["stage_id"][k] = (p - 1) * 5 + r.randint(1, 5)
                ov["stage_change_time"] = v2_time(ts)
        elif entity == "persons":
            first, last = r.choice(_FIRST), r.choice(_LAST)
            ov.update(first_name=first, last_name=last + tag, name=f"{first} {last}{tag}")
        elif entity == "organizations":
            ov["name"] = self.org_name(rid).split(" ✎")[0] + tag
        elif entity == "activities":
            t.cols["done"][k] ^= 1
            ov["subject"] = f"{r.choice(_SUBJECTS)} #{rid}{tag}"
            ov["done"] = bool(t.cols["done"][k])
            ov["marked_as_done_time"] = v2_time(ts) if ov["done"] else None
        elif entity == "products":
            ov["name"] = self.product_name(rid).split(" ✎")[0] + tag
        elif entity == "leads":
            ov["title"] = self.lead(rid)["title"].split(" ✎")[0] + tag
            ov["was_seen"] = True
        elif entity == "notes":
            ov["content"] = f"<p>Edited {self.mutations} — überarbeitet</p>"
        cf_entity = "deals" if entity == "leads" else entity
        if cf_entity in self.custom:
            f = r.choice(self.custom[cf_entity])
            ov.setdefault("custom_fields", {})[f.key] = F.custom_value(r, f, self)
        self._stamp(t, k, ts, r)

    def _add(self, entity: str, t: Table, r: Random, ts: int) -> int:
        k = t.n
        stamp = ts * 1000 + r.randrange(1000) if entity == "leads" else ts
        t.add.append(stamp)
        t.upd.append(stamp)
        t.upd0.append(stamp)
        t.flags.append(0)
        c = t.cols
        if entity == "organizations":
            c["owner_id"].append(self._owner(r))
        elif entity == "persons":
            c["owner_id"].append(self._owner(r))
            c["org_id"].append(r.randint(1, self.tables["organizations"].n))
        elif entity == "deals":
            c["owner_id"].append(self._owner(r))
            c["person_id"].append(r.randint(1, self.tables["persons"].n))
            c["org_id"].append(r.randint(1, self.tables["organizations"].n))
            p = r.choice((1, 2, 3))
            c["pipeline_id"].append(p)
            c["stage_id"].append((p - 1) * 5 + 1)
            c["status"].append(0)
            c["n_products"].append(r.randint(0, 2))
        elif entity == "products":
            c["owner_id"].append(self._owner(r))
            c["n_variations"].append(0)
        elif entity == "leads":
            c["owner_id"].append(self._owner(r))
            c["person_id"].append(r.randint(1, self.tables["persons"].n))
            c["org_id"].append(0)
            u = str(uuid.UUID(int=r.getrandbits(128), version=4))
            self.lead_uuids.append(u)
            self.lead_index[u] = k
        elif entity == "activities":
            for col in ("deal_id", "person_id", "org_id", "lead"):
                c[col].append(0)
            c["deal_id"][k] = r.randint(1, self.tables["deals"].n)
            c["owner_id"].append(self._owner(r))
            c["done"].append(0)
            c["due"].append((ts + 86400 * 3) // 86400 * 86400)
        elif entity == "notes":
            c["user_id"].append(self._owner(r))
            c["deal_id"].append(r.randint(1, self.tables["deals"].n))
            for col in ("person_id", "org_id", "lead"):
                c[col].append(0)
        return k


_BUILDER = {"leads": "lead", "deals": "deal", "persons": "person", "organizations": "organization", "activities": "activity",
            "products": "product", "notes": "note"}
