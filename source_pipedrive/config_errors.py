"""Config validation that names the field and says what to write, instead of jsonschema's raw error text.

The CDK reports a bad config as "Config validation error: '25/01/2017' does not match '^[0-9]{4}...'", which
leaves the user to guess the field and the fix. The rules stay those of the spec in manifest.yaml; only the
sentence changes.
"""

from typing import Any, Mapping, Optional

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

HINTS = {
    "replication_start_date": "must be a UTC date like 2017-01-25, 2017-01-25T00:00:00Z or 2017-01-25 00:00:00Z",
    "num_workers": "must be a whole number from 1 to 40",
    "api_domain": "must be a base URL such as https://api.pipedrive.com or https://<company>.pipedrive.com",
    "custom_field_names": "must be readable or hash",
}


def _field(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        path.append(error.message.split("'")[1])
    return ".".join(path) or "config"


def _sentence(error: ValidationError, config: Mapping[str, Any]) -> str:
    field = _field(error)
    if field == "credentials" and error.validator == "oneOf":
        # The oneOf failed: name the branch the user meant and what it lacks.
        credentials = config.get("credentials") or {}
        auth_type = credentials.get("auth_type") if isinstance(credentials, dict) else None
        if auth_type not in ("api_token", "oauth2.0"):
            return "Config field 'credentials.auth_type' must be 'api_token' or 'oauth2.0'."
        branch = next(e for e in error.context if e.schema_path and e.relative_schema_path[0] ==
                      (0 if auth_type == "api_token" else 1)) if error.context else None
        return _sentence(branch, config) if branch is not None else "Config field 'credentials' is incomplete."
    if error.validator == "required":
        return f"Config field '{field}' is required."
    if error.validator == "minLength":
        return f"Config field '{field}' must not be empty."
    top = field.split(".")[0]
    if top in HINTS:
        return f"Config field '{field}' {HINTS[top]}; got {error.instance!r}."
    return f"Config field '{field}': {error.message}."


def config_error(config: Mapping[str, Any], connection_specification: Mapping[str, Any]) -> Optional[str]:
    """The first problem of `config` against the spec, as a sentence naming the field; None when valid."""
    errors = sorted(Draft7Validator(connection_specification).iter_errors(config), key=lambda e: list(e.path))
    return _sentence(errors[0], config) if errors else None
