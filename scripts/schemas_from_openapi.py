"""Print manifest `schemas:` entries typed from Pipedrive's published OpenAPI descriptions.

Usage: python scripts/schemas_from_openapi.py [OPENAPI_DIR] > /tmp/schemas.yaml
The output is pasted under `schemas:` in manifest.yaml and then reviewed by hand: the API description is the
source of truth for field names and types, so we regenerate rather than guess. `custom_fields` is left out on
purpose: custom fields become top-level columns discovered from the Fields API at run time.
"""

import sys
from pathlib import Path

import yaml

# stream name -> (openapi file, GET path)
STREAMS = {
    "deals": ("v2", "/deals"),
    "persons": ("v2", "/persons"),
    "organizations": ("v2", "/organizations"),
    "activities": ("v2", "/activities"),
    "products": ("v2", "/products"),
    "pipelines": ("v2", "/pipelines"),
    "stages": ("v2", "/stages"),
    "fields": ("v2", "/dealFields"),
    "leads": ("v1", "/leads"),
    "notes": ("v1", "/notes"),
    "users": ("v1", "/users"),
    "activity_types": ("v1", "/activityTypes"),
    "currencies": ("v1", "/currencies"),
    "lead_labels": ("v1", "/leadLabels"),
    "lead_sources": ("v1", "/leadSources"),
    "filters": ("v1", "/filters"),
    "files": ("v1", "/files"),
    "call_logs": ("v1", "/callLogs"),
    "deal_products": ("v2", "/deals/products"),
    "product_variations": ("v2", "/products/{id}/variations"),
    "projects": ("v2", "/projects"),
    "project_templates": ("v2", "/projectTemplates"),
    "tasks": ("v2", "/tasks"),
    "boards": ("v2", "/boards"),
    "phases": ("v2", "/phases"),
    "v1_fields": ("v1", "/leadFields"),
    "note_fields": ("v1", "/noteFields"),
    "roles": ("v1", "/roles"),
    "permission_sets": ("v1", "/permissionSets"),
    "webhooks": ("v1", "/webhooks"),
    "goals": ("v1", "/goals/find"),
    "mail": ("v1", "/mailbox/mailThreads"),
    "mail_messages": ("v1", "/mailbox/mailThreads/{id}/mailMessages"),
    "organization_relationships_base": ("v1", "/organizationRelationships"),
    "followers": ("v2", "/deals/{id}/followers"),
    "followers_changelog": ("v2", "/deals/{id}/followers/changelog"),
    "deal_discounts": ("v2", "/deals/{id}/discounts"),
    "deal_installments": ("v2", "/deals/installments"),
    "product_images": ("v2", "/products/{id}/images"),
    "project_changelog": ("v2", "/projects/{id}/changelog"),
    "deal_participants": ("v1", "/deals/{id}/participants"),
    "participants_changelog": ("v1", "/deals/{id}/participantsChangelog"),
    "flow": ("v1", "/deals/{id}/flow"),
    "changelog": ("v1", "/deals/{id}/changelog"),
    "entity_mail_messages": ("v1", "/deals/{id}/mailMessages"),
    "note_comments": ("v1", "/notes/{id}/comments"),
    "role_assignments": ("v1", "/roles/{id}/assignments"),
    "role_settings": ("v1", "/roles/{id}/settings"),
    "role_pipelines": ("v1", "/roles/{id}/pipelines"),
    "permission_set_assignments": ("v1", "/permissionSets/{id}/assignments"),
    "user_permissions": ("v1", "/users/{id}/permissions"),
}
TIMESTAMP_FIELDS = {"time", "timestamp", "created_at", "updated_at", "add_time", "modified", "created", "last_login", "start_time", "end_time", "next_activity_time", "update_time", "stage_change_time", "close_time", "won_time", "lost_time",
                    "archive_time", "marked_as_done_time", "first_won_time"}
INT = {"type": ["null", "integer"]}
CHANGE_KEY = {"type": ["null", "string"], "description": "A hash of the whole change entry: changelogs carry no id, "
              "and several changes in one second must stay separate rows."}
# Child streams: (base schema above, the parent id and other columns the connector adds).
CHILDREN = {
    **{f"{e}_followers": ("followers", {f"{k}": INT}) for e, k in
       [("deal", "deal_id"), ("person", "person_id"), ("organization", "org_id"), ("product", "product_id"),
        ("user", "followed_user_id")]},
    **{f"{e}_followers_changelog": ("followers_changelog", {k: INT}) for e, k in
       [("deal", "deal_id"), ("person", "person_id"), ("organization", "org_id"), ("product", "product_id")]},
    **{f"{e}_flow": ("flow", {k: INT, "id": INT}) for e, k in
       [("deal", "deal_id"), ("person", "person_id"), ("organization", "org_id")]},
    **{f"{e}_changelog": ("changelog", {k: INT, "_ab_change_key": CHANGE_KEY}) for e, k in
       [("deal", "deal_id"), ("person", "person_id"), ("organization", "org_id")]},
    **{f"{e}_mail_messages": ("entity_mail_messages", {k: INT, "id": INT}) for e, k in
       [("deal", "deal_id"), ("person", "person_id"), ("organization", "org_id")]},
    "deal_participants_changelog": ("participants_changelog", {"deal_id": INT}),
    "deal_participants": ("deal_participants", {"deal_id": INT}),
    "deal_discounts": ("deal_discounts", {}),
    "project_changelog": ("project_changelog", {"project_id": INT, "_ab_change_key": CHANGE_KEY}),
    "project_permitted_users": (None, {"project_id": INT, "user_ids": {"type": ["null", "array"], "items": INT}}),
    "note_comments": ("note_comments", {"note_id": INT}),
    "role_assignments": ("role_assignments", {}),
    "role_settings": ("role_settings", {"role_id": INT}),
    "role_pipelines": ("role_pipelines", {"role_id": INT}),
    "permission_set_assignments": ("permission_set_assignments", {}),
    "user_permissions": ("user_permissions", {"user_id": INT}),
    "user_role_settings": ("role_settings", {"user_id": INT}),
    "user_role_assignments": ("role_assignments", {}),
    "lead_fields": ("v1_fields", {}),
    "leads_archived": ("leads", {}),
    "organization_relationships": ("organization_relationships_base", {"org_id": INT}),
    "projects_archived": ("projects", {}),
    "project_fields": ("fields", {}),
}
SHARED_ONLY = {"organization_relationships_base", "followers", "followers_changelog", "flow", "changelog", "entity_mail_messages",
               "participants_changelog", "v1_fields"}

# Columns the connector adds to what the API returns.
EXTRA = {
    # Pipedrive's own example shows a bare date here ("2025-03-10"), not a timestamp: no format claimed.
    "product_images": {"add_time": {"type": ["null", "string"]}},
    "deals": {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                                     "description": "When the deal was deleted; set only on deleted deals (Pipedrive keeps them 30 days)."}},
    **{name: {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                                     "description": "Set only on a deletion record: when a deletion scan found the record gone."}}
       for name in ("persons", "organizations", "activities", "products", "pipelines", "stages")},
    "notes": {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                                     "description": "Set only on a deletion record: when a deletion scan found the note gone."},
              "is_deleted": {"type": ["null", "boolean"], "description": "True only on a deletion record."}},
    "activity_types": {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                                              "description": "Set on a deleted (inactive) activity type: its update_time."}},
    "users": {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                                     "description": "Set on a user Pipedrive reports as deleted: its modified time."}},
}
# Streams whose records carry the time they were read as their cursor (components.ReadTime): reference data and
# children without a time of their own.
READ_TIME = {"_ab_refreshed_at": {"type": ["null", "string"], "format": "date-time",
                                  "description": "When this sync read the record: its cursor (the record carries no time of its own)."}}
READ_TIME_STREAMS = ("currencies", "goals", "roles", "permission_sets", "webhooks", "lead_labels", "lead_sources", "boards",
                     "project_templates", "leads_archived", "call_logs", "fields", "project_fields", "lead_fields",
                     "note_fields", "deal_installments", "product_variations", "user_followers", "user_permissions",
                     "user_role_assignments", "user_role_settings", "role_assignments", "role_settings", "role_pipelines",
                     "permission_set_assignments", "phases")
# Streams read whole in incremental mode, which emit what vanished since their last read as a deletion record.
GONE = {"_ab_cdc_deleted_at": {"type": ["null", "string"], "format": "date-time",
                               "description": "Set only on a deletion record: when a sync found the record gone."}}
GONE_STREAMS = ("currencies", "goals", "roles", "permission_sets", "webhooks", "lead_labels", "lead_sources", "boards",
                "project_templates", "leads_archived", "call_logs", "fields", "project_fields", "lead_fields",
                "note_fields", "role_assignments", "role_settings", "role_pipelines", "permission_set_assignments",
                "phases", "files", "filters", "projects", "projects_archived", "tasks")
IS_DELETED = {"is_deleted": {"type": ["null", "boolean"], "description": "True only on a deletion record."}}
DATE_FIELDS = {"expected_close_date", "due_date", "local_won_date", "local_lost_date", "local_close_date"}


def merge(schema):
    """Collapse allOf/oneOf into one schema with merged properties."""
    if "allOf" in schema:
        out = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = merge(part)
            props = {**out.get("properties", {}), **part.get("properties", {})}
            out.update(part)
            if props:
                out["properties"] = props
        return out
    return schema


def to_json_schema(name, schema):
    schema = merge(schema)
    if "oneOf" in schema:
        types = sorted({merge(s).get("type", "string") for s in schema["oneOf"]})
        return {"type": ["null", *types]}
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    if kind == "object":
        props = {k: to_json_schema(k, v) for k, v in schema.get("properties", {}).items()}
        out = {"type": ["null", "object"]}
        if props:
            out["properties"] = props
        return out
    if kind == "array":
        return {"type": ["null", "array"], "items": to_json_schema(name, schema.get("items", {}))}
    out = {"type": ["null", kind]}
    if kind == "string" and name in TIMESTAMP_FIELDS:
        out["format"] = "date-time"
    elif kind == "string" and name in DATE_FIELDS:
        out["format"] = "date"
    return out


def item_schema(doc, path):
    response = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    data = merge(merge(response)["properties"]["data"])
    if path == "/goals/find":  # records sit under data.goals
        data = merge(data["properties"]["goals"])
    return merge(data.get("items", data))


def main():
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "integration_tests" / "emulator" / "openapi")
    docs = {v: yaml.safe_load((folder / f"pipedrive-{v}.yaml").read_text()) for v in ("v1", "v2")}
    out = {}
    for stream, (version, path) in STREAMS.items():
        props = item_schema(docs[version], path)["properties"]
        props = {k: to_json_schema(k, v) for k, v in props.items() if k != "custom_fields"}
        props.update(EXTRA.get(stream, {}))
        out[stream] = {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
                       "additionalProperties": True, "properties": props}
    for stream, (base, extra) in CHILDREN.items():
        props = dict(out[base]["properties"]) if base else {}
        props.update(extra)
        out[stream] = {"properties": props}
    for shared in SHARED_ONLY:
        del out[shared]
    for stream in READ_TIME_STREAMS:
        out[stream]["properties"].update(READ_TIME)
    for stream in GONE_STREAMS:
        props = out[stream]["properties"]
        props.update({k: v for k, v in {**GONE, **IS_DELETED}.items() if k not in props or k == "_ab_cdc_deleted_at"})
    # One line per field, as the house style asks, so a schema reads like a table.
    for stream, schema in out.items():
        print(f"  {stream}:")
        print("    type: object")
        print('    $schema: "http://json-schema.org/draft-07/schema#"')
        print("    additionalProperties: true")
        print("    properties:")
        for name, prop in schema["properties"].items():
            line = yaml.safe_dump(prop, default_flow_style=True, width=10_000).strip()
            print(f"      {name}: {line}")


if __name__ == "__main__":
    main()
