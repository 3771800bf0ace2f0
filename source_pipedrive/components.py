"""CDK adapters for what the manifest cannot say in YAML. The Pipedrive semantics live in custom_fields.py."""

from dataclasses import dataclass
from typing import Any, MutableMapping

from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)


@dataclass
class LegacyCredentialsMigration(ConfigTransformation):
    """Moves the credentials of Airbyte's older Pipedrive connectors into today's `credentials` one-of.

    2.x kept `api_token` at the root; 0.1.x kept `authorization` with auth_type Token or Client. YAML's
    ConfigRemapField cannot build one object from another's fields conditionally, hence this class.
    Used by spec.config_normalization_rules.config_migrations; the CDK then writes the config back and emits
    the CONTROL message, so the platform stores the new shape once.
    """

    def transform(self, config: MutableMapping[str, Any]) -> None:
        if "credentials" in config:
            return
        legacy = config.pop("authorization", None)
        if isinstance(legacy, dict) and legacy.get("auth_type") == "Client":
            credentials = {"auth_type": "oauth2.0"}
            for key in ("client_id", "client_secret", "refresh_token", "access_token", "token_expiry_date"):
                if legacy.get(key) is not None:
                    credentials[key] = legacy[key]
            config["credentials"] = credentials
        elif isinstance(legacy, dict) and "api_token" in legacy:
            config["credentials"] = {"auth_type": "api_token", "api_token": legacy["api_token"]}
        elif "api_token" in config:
            config["credentials"] = {"auth_type": "api_token", "api_token": config.pop("api_token")}
        elif legacy is not None:
            config["authorization"] = legacy  # unknown shape: leave it for spec validation to name
