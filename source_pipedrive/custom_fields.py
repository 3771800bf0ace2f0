"""Pipedrive custom fields -> typed, readably named top-level columns (pure: stdlib + anyascii, no CDK).

Values sit under 40-hex field keys: v2 records nest them in `custom_fields` (enum = int option id, set = list of
ids, composite types = objects); v1 records (leads) keep them flat at the root as `<key>`, `<key>_currency`,
`<key>_until`, `<key>_<address part>`, with enum ids as strings and sets as comma strings (pipedrive-api.md §2.5).
`CustomFieldMap.from_fields` reads *Fields items of either version once; flatten_v2 / flatten_v1 then write the
same columns for both. A field absent from a record gets null in all its columns.

Columns: one per field, plus sub-columns for monetary (`_currency`), daterange (`_until`), time (`_timezone_id`,
`_timezone_name`), timerange (`_until`, `_timezone_id`, `_timezone_name`) and address (`_street_number`, `_route`,
`_subpremise`, `_sublocality`, `_locality`, `_admin_area_level_1`, `_admin_area_level_2`, `_country`,
`_postal_code`; the main column is formatted_address, else value). enum/set ids become option labels; references
(user, org, people, deal, ...) become integer ids (lead: its UUID string); json and unknown types keep the raw value
under an open schema.

Names: naming="readable" applies `column_name` to the field name (anyascii, lower case, runs of non-[a-z0-9] ->
"_", edges stripped; empty -> "field"; leading digit -> "field_" prefix). naming="hash" uses the field key, which
survives renames; its sub-columns then equal v1's flat keys.

Collision rule (independent of API order): the taken set starts with the built-in columns passed in, every built-in
field_code in the Fields list and `custom_fields`. Custom fields are named in ascending field_code order, each taking
the first stem whose columns (main and sub-columns) are all free: `<base>`, `<base>_<first 6 chars of key>`,
`<base>_<key>`, `<base>_<key>_2`, `_3`, ... So "Title" becomes `title_9dc8ab`, and of two "Region" fields the
smaller key keeps `region`.

Leftover: values with no definition at discovery (fields created since) are never dropped. They go to the object
column `custom_fields` keyed by field key (v1: every 40-hex-prefixed root key left over, e.g. `<key>_until`), which
is null when every value had a column.

Drift (labels come from the definitions read at sync time): a renamed field changes its readable column at the next
discover (hash names stay); a renamed option shows its new label from then on; a deleted option is gone from v2
definitions, so its id is kept as a string ("42") - v1 `options_deleted` labels are still used; a deleted field
leaves the schema at the next discover and any values still sent land in `custom_fields`.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from anyascii import anyascii

LEFTOVER_COLUMN = "custom_fields"
ADDRESS_PARTS = (
    "street_number", "route", "subpremise", "sublocality", "locality",
    "admin_area_level_1", "admin_area_level_2", "country", "postal_code",
)  # fmt: skip
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# v1 custom values and their `_currency`-style siblings sit at the record root under the 40-hex key.
_V1_CUSTOM_KEY = re.compile(r"[0-9a-f]{40}(?:_|$)")

Labels = Mapping[Any, Any]


class _Kind(NamedTuple):
    columns: tuple[tuple[str, str | None, str | None], ...]  # (suffix, JSON type or None = any, format)
    v1_subkeys: tuple[str, ...]  # v1 `<key>_<subkey>` siblings, nested back into the v2 object shape
    decode: Callable[[Any, Labels], Any]  # v2-shaped value -> one column value, or a tuple for several columns


def _same(value: Any, labels: Labels) -> Any:
    return value


def _ref_id(value: Any, labels: Labels) -> Any:
    if value is None or value.__class__ is int:  # v2's usual case, before the slower isinstance checks
        return value
    # v1 embeds users/orgs/persons as {id|value, name, ...}; v1 ids may also be digit strings.
    if isinstance(value, Mapping):
        value = value["id"] if value.get("id") is not None else value.get("value")
    return int(value) if isinstance(value, str) and value.isdecimal() else value


def _label(value: Any, labels: Labels) -> Any:
    if value.__class__ is int or value.__class__ is str:  # v2's usual case, before the slower isinstance checks
        label = labels.get(value)
        return str(value) if label is None else label
    if isinstance(value, Mapping):  # include_option_labels=true sends {id, label}
        if value.get("label") is not None:
            return value["label"]
        value = value.get("id")
    if value is None:
        return None
    label = labels.get(value) if isinstance(value, (int, str)) else None
    # An id missing from the definitions is a deleted option: keep the id rather than lose the value.
    return str(value) if label is None else label


def _label_list(value: Any, labels: Labels) -> Any:
    if isinstance(value, str):  # v1 comma string; "" means nothing selected, which v2 spells null
        value = [part for part in map(str.strip, value.split(",")) if part] or None
    elif value is not None and not isinstance(value, list):
        value = [value]
    return None if value is None else [_label(item, labels) for item in value]


def _object(*keys: str) -> Callable[[Any, Labels], tuple]:
    def decode(value: Any, labels: Labels) -> tuple:
        if value.__class__ is dict or isinstance(value, Mapping):  # the type check first: ABC checks cost more
            return tuple(map(value.get, keys))
        return (value,) + (None,) * (len(keys) - 1)  # a bare scalar is the main value

    return decode


def _address(value: Any, labels: Labels) -> tuple:
    if value.__class__ is not dict and not isinstance(value, Mapping):
        return (value,) + (None,) * len(ADDRESS_PARTS)
    main = value.get("formatted_address") or value.get("value")
    return (main, *map(value.get, ADDRESS_PARTS))


def _one(json_type: str | None, fmt: str | None = None, decode: Callable = _same) -> _Kind:
    return _Kind((("", json_type, fmt),), (), decode)


def _composite(main: tuple[str, str | None], *subs: tuple[str, str, str | None]) -> _Kind:
    """A v2 object {value, <subkey>...} (v1: `<key>`, `<key>_<subkey>`) -> `<name>` plus `<name>_<subkey>` columns."""
    subkeys = tuple(subkey for subkey, _, _ in subs)
    columns = (("", *main),) + tuple((f"_{subkey}", json_type, fmt) for subkey, json_type, fmt in subs)
    return _Kind(columns, subkeys, _object("value", *subkeys))


_RAW = _one(None)
_TIME_ZONE = (("timezone_id", "integer", None), ("timezone_name", "string", None))
# Plain string for times: JSON Schema's "time" format requires an offset; Pipedrive sends bare "HH:MM:SS".
_KINDS = MappingProxyType(
    {
        **dict.fromkeys(("varchar", "varchar_auto", "varchar_options", "text", "phone"), _one("string")),
        "int": _one("integer"),
        "double": _one("number"),
        "boolean": _one("boolean"),
        "date": _one("string", "date"),
        **dict.fromkeys(("enum", "status", "visible_to"), _one("string", decode=_label)),
        "set": _one("array", decode=_label_list),
        **dict.fromkeys(
            ("user", "org", "people", "deal", "project", "stage", "activity"), _one("integer", decode=_ref_id)
        ),
        "lead": _one("string", decode=_ref_id),  # lead ids are UUIDs (pipedrive-api.md §3.2)
        "monetary": _composite(("number", None), ("currency", "string", None)),
        "daterange": _composite(("string", "date"), ("until", "string", "date")),
        "time": _composite(("string", None), *_TIME_ZONE),
        "timerange": _composite(("string", None), ("until", "string", None), *_TIME_ZONE),
        # The main column is the formatted address; v1 sends it as the sibling `<key>_formatted_address`.
        "address": _Kind(
            (("", "string", None),) + tuple((f"_{part}", "string", None) for part in ADDRESS_PARTS),
            ("formatted_address",) + ADDRESS_PARTS,
            _address,
        ),
    }
)


def _slug(text: str) -> str:
    return _NOT_SLUG.sub("_", anyascii(text).lower()).strip("_")


def column_name(field_name: str) -> str:
    """The readable column for a field name: "Région" -> "region", "Сумма сделки" -> "summa_sdelki"."""
    slug = _slug(field_name)
    if not slug:
        return "field"
    return f"field_{slug}" if slug[0].isdigit() else slug


def _free_names(base: str, code: str, suffixes: Iterable[str], taken: Collection[str]) -> tuple[str, ...]:
    tag = _slug(code) or "x"
    numbered = (f"{base}_{tag}_{n}" for n in itertools.count(2))  # ends: `taken` is finite
    for stem in itertools.chain((base, f"{base}_{tag[:6]}", f"{base}_{tag}"), numbered):
        names = tuple(stem + suffix for suffix in suffixes)
        if not any(name in taken for name in names):
            return names
    raise AssertionError("unreachable")


def _option_labels(item: Mapping) -> Labels:
    labels: dict[Any, Any] = {}
    for option in [*(item.get("options_deleted") or ()), *(item.get("options") or ())]:
        option_id = option.get("id")
        if option_id is None:
            continue
        # Custom option ids are ints, built-in ones strings, v1 record values strings: index every spelling.
        keys = [option_id, str(option_id)]
        if isinstance(option_id, str) and option_id.isdecimal():
            keys.append(int(option_id))
        labels.update(dict.fromkeys(keys, option.get("label")))
    return MappingProxyType(labels)


def _schema(json_type: str | None, fmt: str | None, description: str) -> dict:
    schema: dict[str, Any] = {} if json_type is None else {"type": ["null", json_type]}
    if json_type == "array":
        schema["items"] = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    schema["description"] = description
    return schema


@dataclass(frozen=True)
class CustomColumn:
    """One output column; a field with sub-columns (currency, until, address parts) has one per column."""

    name: str
    schema: dict  # nullable JSON schema with a description naming the Pipedrive field
    field_code: str
    field_name: str
    field_type: str


Writer = Callable[[MutableMapping, Any], None]


def _writer(names: tuple[str, ...], kind: _Kind, labels: Labels) -> Writer:
    decode = kind.decode
    if len(names) == 1:
        (name,) = names

        def write_one(record: MutableMapping, value: Any) -> None:
            record[name] = decode(value, labels)

        return write_one
    nulls = dict.fromkeys(names)

    def write_many(record: MutableMapping, value: Any) -> None:
        record.update(nulls if value is None else zip(names, decode(value, labels)))

    return write_many


def _v1_reader(code: str, subkeys: tuple[str, ...]) -> Callable[[MutableMapping], Any]:
    if not subkeys:
        return lambda record: record.pop(code, None)
    flat = tuple((subkey, f"{code}_{subkey}") for subkey in subkeys)

    def read(record: MutableMapping) -> Any:
        value = record.pop(code, None)
        nested = {subkey: record.pop(key, None) for subkey, key in flat}
        if isinstance(value, Mapping):  # already an object (lead-style): use it as the v2 shape
            return value
        if value is None and all(sub is None for sub in nested.values()):
            return None
        return {"value": value, **nested}

    return read


@dataclass(frozen=True)
class CustomFieldMap:
    """Columns for one entity's custom fields, plus the per-record plan that fills them. Build with from_fields."""

    columns: tuple[CustomColumn, ...]
    _plan: tuple[tuple[str, Writer, Callable[[MutableMapping], Any]], ...] = field(repr=False)
    _codes: frozenset[str] = field(repr=False)
    # flatten_v2's split of _plan: fields copied as they are (one C-level update for all), and the others.
    _copied: tuple[tuple[str, ...], tuple[str, ...]] = field(default=((), ()), repr=False)
    _decoded: tuple[tuple[str, Writer], ...] = field(default=(), repr=False)

    @classmethod
    def from_fields(
        cls,
        fields: Iterable[Mapping],
        *,
        builtin_columns: Collection[str],
        naming: str = "readable",
    ) -> CustomFieldMap:
        """Plan columns from v2 (field_code/field_name/is_custom_field) or v1 (key/name/edit_flag) Fields items.

        builtin_columns: the stream's static columns; custom columns never take these names.
        """
        if naming not in ("readable", "hash"):
            raise ValueError(f"naming must be 'readable' or 'hash', got {naming!r}")
        custom: dict[str, Mapping] = {}
        builtin: dict[str, Mapping] = {}
        for item in fields:
            code = item.get("field_code", item.get("key"))
            if not code or item.get("is_subfield") or item.get("active_flag") is False:
                continue
            is_custom = item.get("is_custom_field", item.get("edit_flag"))
            (custom if is_custom else builtin)[code] = item
        taken = {*builtin_columns, *builtin, LEFTOVER_COLUMN}
        columns, plan, copied, decoded = [], [], [], []
        for code in sorted(custom):
            item = custom[code]
            field_name = item.get("field_name", item.get("name")) or ""
            field_type = item.get("field_type") or ""
            kind = _KINDS.get(field_type, _RAW)
            base = code if naming == "hash" else column_name(field_name)
            names = _free_names(base, code, [suffix for suffix, _, _ in kind.columns], taken)
            taken.update(names)
            about = f"Pipedrive custom field '{field_name}' (key {code}, type {field_type})"
            for name, (suffix, json_type, fmt) in zip(names, kind.columns):
                description = f"{about}: {suffix[1:]}" if suffix else about
                columns.append(CustomColumn(name, _schema(json_type, fmt, description), code, field_name, field_type))
            plan.append((code, _writer(names, kind, _option_labels(item)), _v1_reader(code, kind.v1_subkeys)))
            if len(names) == 1 and kind.decode is _same:
                copied.append((code, names[0]))
            else:
                decoded.append(plan[-1][:2])
        copied_pair = (tuple(code for code, _ in copied), tuple(name for _, name in copied))
        return cls(tuple(columns), tuple(plan), frozenset(custom), copied_pair, tuple(decoded))

    def schema_properties(self) -> dict[str, dict]:
        """Column name -> JSON schema: custom columns and the leftover `custom_fields` column."""
        properties = {column.name: copy.deepcopy(column.schema) for column in self.columns}
        properties[LEFTOVER_COLUMN] = {
            "type": ["null", "object"],
            "description": "Custom-field values whose field had no definition at discovery, keyed by Pipedrive "
            "field key; null when every value has its own column.",
        }
        return properties

    def flatten_v2(self, record: MutableMapping) -> None:
        """Replace a v2 record's `custom_fields` object by the columns (in place)."""
        values = record.pop(LEFTOVER_COLUMN, None)
        if not isinstance(values, Mapping):  # absent, null, or the `[]` some v2 examples show
            values = {}
        get = values.get
        codes, names = self._copied
        record.update(zip(names, map(get, codes)))
        for code, write in self._decoded:
            write(record, get(code))
        known = self._codes
        if values.keys() <= known:
            record[LEFTOVER_COLUMN] = None
        else:
            record[LEFTOVER_COLUMN] = {key: value for key, value in values.items() if key not in known}

    def flatten_v1(self, record: MutableMapping) -> None:
        """Replace a v1 record's flat `<key>`, `<key>_<subkey>` root keys by the columns (in place)."""
        # Read every field before writing any, so no column can overwrite a raw key still to be read.
        values = [read(record) for _, _, read in self._plan]
        unknown = [key for key in record if _V1_CUSTOM_KEY.match(key)]
        for (_, write, _), value in zip(self._plan, values):
            write(record, value)
        record[LEFTOVER_COLUMN] = {key: record.pop(key) for key in unknown} or None
