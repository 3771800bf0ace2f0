"""Custom fields become typed, readably named top-level columns (source_pipedrive/custom_fields.py).

Pure tests over literal *Fields items and records: every field type in its v2 shape (values nested in
`custom_fields`) and its v1 shape (flat at the record root, as leads send them), the naming and collision rules,
and what happens to values the definitions do not explain (deleted options, fields created after discovery).
"""

import itertools

import pytest

from source_pipedrive.custom_fields import CustomColumn, CustomFieldMap, column_name


def key(prefix: str) -> str:
    """A 40-hex field key whose first six characters are `prefix` (the readable collision suffix)."""
    return (prefix * 40)[:40]


K = key("9dc8ab")
BUILTINS = ("id", "title", "value", "currency", "add_time", "update_time")
PRIORITY = [{"id": 1, "label": "Low"}, {"id": 2, "label": "Medium"}, {"id": 3, "label": "High"}]
ADDRESS_PARTS = (
    "street_number", "route", "subpremise", "sublocality", "locality",
    "admin_area_level_1", "admin_area_level_2", "country", "postal_code",
)  # fmt: skip


def v2_field(code, name, field_type, options=None, custom=True):
    return {
        "field_code": code,
        "field_name": name,
        "field_type": field_type,
        "options": options,
        "subfields": None,
        "is_custom_field": custom,
        "is_optional_response_field": False,
    }


def v1_field(code, name, field_type, options=None, edit_flag=True, **extra):
    return {"id": 12, "key": code, "name": name, "field_type": field_type, "options": options, "edit_flag": edit_flag,
            "active_flag": True, **extra}  # fmt: skip


def build(*fields, builtins=BUILTINS, **kwargs):
    return CustomFieldMap.from_fields(fields, builtin_columns=builtins, **kwargs)


def thing(field_type, options=None):
    """A one-field map: custom field "Thing" of `field_type` under key K."""
    return build(v2_field(K, "Thing", field_type, options))


def without_descriptions(field_map):
    properties = field_map.schema_properties()
    del properties["custom_fields"]
    return {name: {k: v for k, v in schema.items() if k != "description"} for name, schema in properties.items()}


def flat_v2(field_map, custom_fields):
    record = {"id": 1, "custom_fields": custom_fields}
    field_map.flatten_v2(record)
    return record


def flat_v1(field_map, root):
    record = {"id": 1, **root}
    field_map.flatten_v1(record)
    return record


ADDRESS_NULLS = {f"thing_{part}": None for part in ADDRESS_PARTS}
STRING = {"type": ["null", "string"]}
INTEGER = {"type": ["null", "integer"]}
DATE = {"type": ["null", "string"], "format": "date"}


# --- names ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_name", "expected"),
    [
        ("Deal source", "deal_source"),
        ("Région", "region"),
        ("Größe", "grosse"),
        ("Сумма сделки", "summa_sdelki"),
        ("顧客", "guke"),
        ("🚀 Launch date", "rocket_launch_date"),
        ("Net value (€)", "net_value_eur"),
        ("  --Weird__Name!!  ", "weird_name"),
        ("CamelCase", "camelcase"),
        ("2nd contact", "field_2nd_contact"),
        ("100%", "field_100"),
        ("", "field"),
        ("!!!", "field"),
    ],
    ids=[
        "spaces become underscores",
        "accents are dropped",
        "sharp s is transliterated",
        "cyrillic is transliterated",
        "cjk is transliterated",
        "emoji become their names",
        "punctuation is dropped and currency symbols spelled",
        "runs of separators collapse and edges are stripped",
        "case is lowered without splitting words",
        "a leading digit gets the field prefix",
        "a digit-only name gets the field prefix",
        "an empty name becomes field",
        "a punctuation-only name becomes field",
    ],
)
def test_column_names_are_ascii_lower_snake_case(field_name, expected):
    assert column_name(field_name) == expected


def test_a_custom_field_named_like_a_builtin_column_gets_the_first_six_key_characters():
    field_map = build(v2_field(key("abc123"), "Title", "varchar"))
    assert [column.name for column in field_map.columns] == ["title_abc123"]


def test_a_custom_field_named_like_a_builtin_field_in_the_fields_list_is_renamed_too():
    field_map = build(v2_field("label", "Label", "enum", custom=False), v2_field(K, "Label", "varchar"), builtins=())
    assert [column.name for column in field_map.columns] == ["label_9dc8ab"]


def test_a_custom_field_named_custom_fields_leaves_that_name_to_the_leftover_column():
    field_map = build(v2_field(K, "Custom fields", "text"))
    assert list(field_map.schema_properties()) == ["custom_fields_9dc8ab", "custom_fields"]


def test_custom_fields_with_the_same_name_are_told_apart_by_key_and_the_smallest_key_keeps_the_name():
    field_map = build(
        v2_field(key("f00001"), "Region", "varchar"),
        v2_field(key("0aaaaa"), "Region", "varchar"),
        v2_field(key("b12345"), "region!", "varchar"),
    )
    assert [(column.field_code, column.name) for column in field_map.columns] == [
        (key("0aaaaa"), "region"),
        (key("b12345"), "region_b12345"),
        (key("f00001"), "region_f00001"),
    ]


def test_keys_sharing_their_first_six_characters_fall_back_to_the_whole_key():
    first, second = "abcdef" + "0" * 34, "abcdef" + "1" * 34
    field_map = build(v2_field(first, "Title", "varchar"), v2_field(second, "Title", "varchar"))
    assert [column.name for column in field_map.columns] == ["title_abcdef", f"title_{second}"]


def test_the_whole_key_gets_a_counter_when_even_it_is_taken():
    field_map = build(v2_field(K, "Title", "varchar"), builtins=("title", "title_9dc8ab", f"title_{K}"))
    assert [column.name for column in field_map.columns] == [f"title_{K}_2"]


def test_column_names_do_not_depend_on_the_order_fields_arrive_in():
    fields = [
        v2_field(key("c00000"), "Price", "monetary"),
        v2_field(key("a00000"), "Price currency", "varchar"),
        v2_field(key("b00000"), "Price", "varchar"),
        v2_field(key("d00000"), "Title", "address"),
        v2_field(key("e00000"), "Price", "daterange"),
    ]
    expected = {
        "price_currency",
        "price",
        "price_c00000",
        "price_c00000_currency",
        *(f"title_d00000{suffix}" for suffix in ("", *(f"_{part}" for part in ADDRESS_PARTS))),
        "price_e00000",
        "price_e00000_until",
        "custom_fields",
    }
    results = {tuple(build(*order).schema_properties()) for order in itertools.permutations(fields)}
    assert len(results) == 1
    assert set(results.pop()) == expected


@pytest.mark.parametrize(
    ("fields", "builtins", "expected"),
    [
        (
            [v2_field(key("a00000"), "Price currency", "varchar"), v2_field(key("b00000"), "Price", "monetary")],
            (),
            ["price_currency", "price_b00000", "price_b00000_currency"],
        ),
        (
            [v2_field(key("a00000"), "Price", "monetary"), v2_field(key("b00000"), "Price currency", "varchar")],
            (),
            ["price", "price_currency", "price_currency_b00000"],
        ),
        ([v2_field(K, "Budget", "monetary")], ("budget_currency",), ["budget_9dc8ab", "budget_9dc8ab_currency"]),
        ([v2_field(K, "Trip", "daterange")], ("trip_until",), ["trip_9dc8ab", "trip_9dc8ab_until"]),
    ],
    ids=[
        "a sub-column never takes a name an earlier field holds",
        "a later field never takes an earlier field's sub-column",
        "a sub-column never takes a builtin column",
        "an until sub-column never takes a builtin column",
    ],
)
def test_sub_columns_never_collide(fields, builtins, expected):
    assert [column.name for column in build(*fields, builtins=builtins).columns] == expected


def test_hash_naming_keeps_the_field_key_as_the_column_with_the_same_sub_column_suffixes():
    field_map = build(v2_field(K, "Budget", "monetary"), v2_field(key("1234ab"), "Région", "enum", PRIORITY),
                      naming="hash")  # fmt: skip
    assert [column.name for column in field_map.columns] == [key("1234ab"), K, f"{K}_currency"]
    assert flat_v2(field_map, {K: {"value": 10, "currency": "EUR"}, key("1234ab"): 3}) == {
        "id": 1,
        key("1234ab"): "High",
        K: 10,
        f"{K}_currency": "EUR",
        "custom_fields": None,
    }


def test_hash_naming_reads_v1_records_whose_flat_keys_equal_the_columns():
    field_map = build(v2_field(K, "Budget", "monetary"), naming="hash")
    assert flat_v1(field_map, {K: 10, f"{K}_currency": "EUR"}) == {
        "id": 1,
        K: 10,
        f"{K}_currency": "EUR",
        "custom_fields": None,
    }


def test_an_unknown_naming_mode_is_rejected():
    with pytest.raises(ValueError, match="naming must be 'readable' or 'hash', got 'pretty'"):
        build(v2_field(K, "Thing", "varchar"), naming="pretty")


# --- which fields become columns ----------------------------------------------------------------------------------


def test_only_custom_fields_become_columns_from_v2_items():
    field_map = build(v2_field("title", "Title", "varchar", custom=False), v2_field(K, "Région", "enum", PRIORITY))
    assert field_map.columns == (
        CustomColumn(
            name="region",
            schema={
                "type": ["null", "string"],
                "description": f"Pipedrive custom field 'Région' (key {K}, type enum)",
            },
            field_code=K,
            field_name="Région",
            field_type="enum",
        ),
    )


def test_only_active_custom_fields_that_are_not_subfields_become_columns_from_v1_items():
    field_map = build(
        v1_field("title", "Title", "varchar", edit_flag=False),
        v1_field(K, "Budget", "monetary"),
        v1_field(f"{K}_currency", "Currency of Budget", "varchar", is_subfield=True),
        v1_field(key("dead00"), "Old", "varchar", active_flag=False),
    )
    assert [column.name for column in field_map.columns] == ["budget", "budget_currency"]


@pytest.mark.parametrize(
    ("field_type", "suffix", "description"),
    [
        ("enum", "", f"Pipedrive custom field 'Thing' (key {K}, type enum)"),
        ("monetary", "_currency", f"Pipedrive custom field 'Thing' (key {K}, type monetary): currency"),
        ("address", "_postal_code", f"Pipedrive custom field 'Thing' (key {K}, type address): postal_code"),
    ],
    ids=["main column", "monetary sub-column", "address part"],
)
def test_descriptions_name_the_pipedrive_field_its_key_and_type(field_type, suffix, description):
    assert thing(field_type).schema_properties()[f"thing{suffix}"]["description"] == description


def test_the_leftover_column_is_a_nullable_object():
    assert thing("varchar").schema_properties()["custom_fields"] == {
        "type": ["null", "object"],
        "description": "Custom-field values whose field had no definition at discovery, keyed by Pipedrive field "
        "key; null when every value has its own column.",
    }


def test_schema_properties_hands_out_copies():
    field_map = thing("set")
    field_map.schema_properties()["thing"]["items"]["type"] = "integer"
    assert field_map.schema_properties()["thing"]["items"] == {"type": "string"}


# --- types: schemas and v2 values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "expected"),
    [
        ("varchar", {"thing": STRING}),
        ("varchar_auto", {"thing": STRING}),
        ("varchar_options", {"thing": STRING}),
        ("text", {"thing": STRING}),
        ("phone", {"thing": STRING}),
        ("int", {"thing": INTEGER}),
        ("double", {"thing": {"type": ["null", "number"]}}),
        ("boolean", {"thing": {"type": ["null", "boolean"]}}),
        ("date", {"thing": DATE}),
        ("enum", {"thing": STRING}),
        ("status", {"thing": STRING}),
        ("visible_to", {"thing": STRING}),
        ("set", {"thing": {"type": ["null", "array"], "items": {"type": "string"}}}),
        ("user", {"thing": INTEGER}),
        ("org", {"thing": INTEGER}),
        ("people", {"thing": INTEGER}),
        ("deal", {"thing": INTEGER}),
        ("project", {"thing": INTEGER}),
        ("stage", {"thing": INTEGER}),
        ("activity", {"thing": INTEGER}),
        ("lead", {"thing": STRING}),
        ("monetary", {"thing": {"type": ["null", "number"]}, "thing_currency": STRING}),
        ("daterange", {"thing": DATE, "thing_until": DATE}),
        ("time", {"thing": STRING, "thing_timezone_id": INTEGER, "thing_timezone_name": STRING}),
        (
            "timerange",
            {"thing": STRING, "thing_until": STRING, "thing_timezone_id": INTEGER, "thing_timezone_name": STRING},
        ),
        ("address", {"thing": STRING, **{f"thing_{part}": STRING for part in ADDRESS_PARTS}}),
        ("json", {"thing": {}}),
        ("picture", {"thing": {}}),
        ("hologram", {"thing": {}}),
        ("", {"thing": {}}),
    ],
    ids=[
        *(f"{t} is a string" for t in ("varchar", "varchar_auto", "varchar_options", "text", "phone")),
        "int is an integer",
        "double is a number",
        "boolean is a boolean",
        "date is a date string",
        *(f"{t} is its option label" for t in ("enum", "status", "visible_to")),
        "set is an array of option labels",
        *(f"{t} is an integer id" for t in ("user", "org", "people", "deal", "project", "stage", "activity")),
        "lead is its uuid string",
        "monetary is a number plus a currency string",
        "daterange is two dates",
        "time is a string plus its timezone",
        "timerange is two strings plus their timezone",
        "address is the formatted string plus nine parts",
        "json keeps an open schema",
        "picture keeps an open schema",
        "an unknown type keeps an open schema",
        "a missing type keeps an open schema",
    ],
)
def test_each_field_type_gets_nullable_typed_columns(field_type, expected):
    assert without_descriptions(thing(field_type, PRIORITY)) == expected


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        ("varchar", "hello", {"thing": "hello"}),
        ("phone", "+372 5555 5555", {"thing": "+372 5555 5555"}),
        ("int", 5, {"thing": 5}),
        ("double", 2.5, {"thing": 2.5}),
        ("boolean", False, {"thing": False}),
        ("date", "2026-01-31", {"thing": "2026-01-31"}),
        ("enum", 2, {"thing": "Medium"}),
        ("set", [1, 3], {"thing": ["Low", "High"]}),
        ("user", 7, {"thing": 7}),
        ("org", 8, {"thing": 8}),
        ("people", 9, {"thing": 9}),
        ("lead", "adf21080-0e10-11eb-879b-05d71fb426ec", {"thing": "adf21080-0e10-11eb-879b-05d71fb426ec"}),
        ("monetary", {"value": 1500.5, "currency": "EUR"}, {"thing": 1500.5, "thing_currency": "EUR"}),
        (
            "daterange",
            {"value": "2026-01-01", "until": "2026-01-31"},
            {"thing": "2026-01-01", "thing_until": "2026-01-31"},
        ),
        (
            "time",
            {"value": "09:30:00", "timezone_id": 212, "timezone_name": "Europe/Tallinn"},
            {"thing": "09:30:00", "thing_timezone_id": 212, "thing_timezone_name": "Europe/Tallinn"},
        ),
        (
            "timerange",
            {"value": "09:00:00", "until": "17:00:00", "timezone_id": 212, "timezone_name": "Europe/Tallinn"},
            {
                "thing": "09:00:00",
                "thing_until": "17:00:00",
                "thing_timezone_id": 212,
                "thing_timezone_name": "Europe/Tallinn",
            },
        ),
        (
            "address",
            {
                "value": "Narva mnt 5",
                "street_number": "5",
                "route": "Narva maantee",
                "subpremise": "12",
                "sublocality": "Kesklinn",
                "locality": "Tallinn",
                "admin_area_level_1": "Harju maakond",
                "admin_area_level_2": "Tallinn",
                "country": "Estonia",
                "postal_code": "10117",
                "formatted_address": "Narva mnt 5-12, 10117 Tallinn, Estonia",
            },
            {
                "thing": "Narva mnt 5-12, 10117 Tallinn, Estonia",
                "thing_street_number": "5",
                "thing_route": "Narva maantee",
                "thing_subpremise": "12",
                "thing_sublocality": "Kesklinn",
                "thing_locality": "Tallinn",
                "thing_admin_area_level_1": "Harju maakond",
                "thing_admin_area_level_2": "Tallinn",
                "thing_country": "Estonia",
                "thing_postal_code": "10117",
            },
        ),
        ("address", {"value": "Narva mnt 5", "country": "Estonia"},
         {**ADDRESS_NULLS, "thing": "Narva mnt 5", "thing_country": "Estonia"}),
        ("json", {"any": ["shape", 1]}, {"thing": {"any": ["shape", 1]}}),
        ("hologram", [1, "two"], {"thing": [1, "two"]}),
    ],
    ids=[
        "varchar passes through",
        "phone passes through",
        "int passes through",
        "double passes through",
        "boolean false is kept",
        "date passes through",
        "enum option id becomes its label",
        "set option ids become a list of labels",
        "user id passes through",
        "org id passes through",
        "people id passes through",
        "lead uuid passes through",
        "monetary splits into value and currency",
        "daterange splits into start and until",
        "time splits into time and timezone",
        "timerange splits into start until and timezone",
        "address becomes the formatted address plus its parts",
        "address without formatted_address falls back to value",
        "json keeps the raw value",
        "an unknown type keeps the raw value",
    ],
)  # fmt: skip
def test_v2_custom_fields_flatten_into_typed_columns(field_type, value, expected):
    assert flat_v2(thing(field_type, PRIORITY), {K: value}) == {"id": 1, **expected, "custom_fields": None}


# --- types: v1 flat values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "root", "expected"),
    [
        ("varchar", {K: "hello"}, {"thing": "hello"}),
        ("enum", {K: "2"}, {"thing": "Medium"}),
        ("set", {K: "1,3"}, {"thing": ["Low", "High"]}),
        ("set", {K: "1, 3"}, {"thing": ["Low", "High"]}),
        ("set", {K: ""}, {"thing": None}),
        ("user", {K: {"id": 7, "name": "Ann", "email": "ann@example.com", "value": 7}}, {"thing": 7}),
        ("org", {K: {"name": "Acme", "people_count": 3, "owner_id": 7, "value": 8}}, {"thing": 8}),
        ("people", {K: {"name": "Bob", "email": [], "phone": [], "value": 9}}, {"thing": 9}),
        ("user", {K: "7"}, {"thing": 7}),
        ("monetary", {K: 1500.5, f"{K}_currency": "EUR"}, {"thing": 1500.5, "thing_currency": "EUR"}),
        ("monetary", {K: {"value": 10, "currency": "USD"}}, {"thing": 10, "thing_currency": "USD"}),
        ("monetary", {K: None, f"{K}_currency": "EUR"}, {"thing": None, "thing_currency": "EUR"}),
        (
            "daterange",
            {K: "2026-01-01", f"{K}_until": "2026-01-31"},
            {"thing": "2026-01-01", "thing_until": "2026-01-31"},
        ),
        ("time", {K: "09:30:00"}, {"thing": "09:30:00", "thing_timezone_id": None, "thing_timezone_name": None}),
        (
            "time",
            {K: "09:30:00", f"{K}_timezone_id": 212, f"{K}_timezone_name": "Europe/Tallinn"},
            {"thing": "09:30:00", "thing_timezone_id": 212, "thing_timezone_name": "Europe/Tallinn"},
        ),
        (
            "timerange",
            {K: "09:00:00", f"{K}_until": "17:00:00"},
            {"thing": "09:00:00", "thing_until": "17:00:00", "thing_timezone_id": None, "thing_timezone_name": None},
        ),
        (
            "address",
            {
                K: "Narva mnt 5",
                f"{K}_formatted_address": "Narva mnt 5, 10117 Tallinn, Estonia",
                f"{K}_route": "Narva maantee",
                f"{K}_postal_code": "10117",
            },
            {
                **ADDRESS_NULLS,
                "thing": "Narva mnt 5, 10117 Tallinn, Estonia",
                "thing_route": "Narva maantee",
                "thing_postal_code": "10117",
            },
        ),
    ],
    ids=[
        "varchar passes through",
        "enum string id becomes its label",
        "set comma string becomes a list of labels",
        "set comma string tolerates spaces",
        "an empty set string is null like v2",
        "user object becomes its id",
        "org object becomes its value id",
        "person object becomes its value id",
        "a digit string reference becomes an integer",
        "monetary sibling currency key becomes the currency column",
        "monetary object is read like v2",
        "monetary currency without an amount is kept",
        "daterange sibling until key becomes the until column",
        "time without timezone keys",
        "time with timezone sibling keys",
        "timerange sibling until key",
        "address siblings become the formatted address and parts",
    ],
)
def test_v1_flat_custom_values_flatten_into_the_same_columns_and_leave_no_raw_keys(field_type, root, expected):
    assert flat_v1(thing(field_type, PRIORITY), root) == {"id": 1, **expected, "custom_fields": None}


def test_v1_lead_value_is_a_builtin_and_is_left_untouched():
    lead = {"id": "adf21080-0e10-11eb-879b-05d71fb426ec", "value": {"amount": 5, "currency": "EUR"}, K: "1"}
    build(v1_field(K, "Priority", "enum", PRIORITY)).flatten_v1(lead)
    assert lead == {
        "id": "adf21080-0e10-11eb-879b-05d71fb426ec",
        "value": {"amount": 5, "currency": "EUR"},
        "priority": "Low",
        "custom_fields": None,
    }


# --- nulls, labels, unknown values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "expected"),
    [
        ("varchar", {"thing": None}),
        ("enum", {"thing": None}),
        ("set", {"thing": None}),
        ("monetary", {"thing": None, "thing_currency": None}),
        ("timerange", {"thing": None, "thing_until": None, "thing_timezone_id": None, "thing_timezone_name": None}),
        ("address", {"thing": None, **ADDRESS_NULLS}),
    ],
    ids=["varchar", "enum", "set", "monetary", "timerange", "address"],
)
def test_null_or_absent_values_null_every_column_of_the_field(field_type, expected):
    field_map = thing(field_type, PRIORITY)
    null = {"id": 1, **expected, "custom_fields": None}
    assert flat_v2(field_map, {K: None}) == null
    assert flat_v2(field_map, {}) == null
    assert flat_v2(field_map, None) == null
    assert flat_v1(field_map, {}) == null
    assert flat_v1(field_map, {K: None}) == null


def test_a_record_without_custom_fields_gets_null_columns():
    record = {"id": 1}
    thing("varchar").flatten_v2(record)
    assert record == {"id": 1, "thing": None, "custom_fields": None}


def test_an_empty_custom_fields_list_counts_as_no_values():
    assert flat_v2(thing("varchar"), []) == {"id": 1, "thing": None, "custom_fields": None}


def test_set_values_become_lists_of_option_labels():
    assert flat_v2(thing("set", PRIORITY), {K: [3, 1, 2]})["thing"] == ["High", "Low", "Medium"]


@pytest.mark.parametrize(
    ("field_type", "options", "flatten", "value", "expected"),
    [
        ("enum", PRIORITY, flat_v2, 99, "99"),
        ("enum", PRIORITY, flat_v1, "99", "99"),
        ("set", PRIORITY, flat_v2, [1, 99], ["Low", "99"]),
        ("set", PRIORITY, flat_v1, "1,99", ["Low", "99"]),
        ("enum", None, flat_v2, 2, "2"),
    ],
    ids=[
        "v2 enum keeps the unknown id as a string",
        "v1 enum keeps the unknown id string",
        "v2 set keeps unknown ids among labels",
        "v1 set keeps unknown ids among labels",
        "an enum without options keeps every id",
    ],
)
def test_unknown_option_ids_are_kept_as_strings(field_type, options, flatten, value, expected):
    # flat_v2 nests {K: value} in custom_fields, flat_v1 puts it at the record root.
    assert flatten(thing(field_type, options), {K: value})["thing"] == expected


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        ("enum", {"id": 2, "label": "Medium"}, "Medium"),
        ("enum", {"id": 3, "label": "Renamed since discovery"}, "Renamed since discovery"),
        ("enum", {"id": 99, "label": "Not in the definitions"}, "Not in the definitions"),
        ("enum", {"id": 2, "label": None}, "Medium"),
        ("set", [{"id": 1, "label": "Low"}, {"id": 3, "label": "High"}], ["Low", "High"]),
    ],
    ids=[
        "enum label object becomes its label",
        "the label sent with the value wins over the discovered one",
        "a label object for an unknown id still gives its label",
        "a label object without a label falls back to the id",
        "set of label objects becomes a list of labels",
    ],
)
def test_option_label_objects_become_labels(field_type, value, expected):
    assert flat_v2(thing(field_type, PRIORITY), {K: value})["thing"] == expected


def test_deleted_options_that_v1_still_lists_decode_to_their_old_label():
    field_map = build(v1_field(K, "Thing", "enum", PRIORITY, options_deleted=[{"id": 4, "label": "Urgent"}]))
    assert flat_v1(field_map, {K: "4"})["thing"] == "Urgent"


# --- leftover values -------------------------------------------------------------------------------------------


def test_v2_values_of_fields_created_after_discovery_land_in_the_custom_fields_column():
    newer = key("eeee01")
    assert flat_v2(thing("varchar"), {K: "hello", newer: {"value": 3, "currency": "EUR"}}) == {
        "id": 1,
        "thing": "hello",
        "custom_fields": {newer: {"value": 3, "currency": "EUR"}},
    }


def test_v1_root_keys_of_fields_created_after_discovery_land_in_the_custom_fields_column():
    newer = key("eeee01")
    root = {K: "hello", newer: 3, f"{newer}_currency": "EUR", "title": "Lead", "label_ids": []}
    assert flat_v1(thing("varchar"), root) == {
        "id": 1,
        "title": "Lead",
        "label_ids": [],
        "thing": "hello",
        "custom_fields": {newer: 3, f"{newer}_currency": "EUR"},
    }


# --- built-in option fields --------------------------------------------------------------------------------------

VISIBLE_TO = v2_field(
    "visible_to",
    "Visible to",
    "visible_to",
    [{"id": "1", "label": "Owner & followers"}, {"id": "3", "label": "Entire company"}],
    custom=False,
)
LABELS = v2_field("label_ids", "Label", "set", [{"id": "5", "label": "Hot"}, {"id": "6", "label": "Cold"}], False)


def test_builtin_option_ids_are_left_alone():
    record = {"id": 1, "visible_to": 3, "custom_fields": {}}
    build(VISIBLE_TO, LABELS).flatten_v2(record)
    assert record == {"id": 1, "visible_to": 3, "custom_fields": None}
