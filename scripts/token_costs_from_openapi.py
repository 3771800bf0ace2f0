"""Writes source_pipedrive/token_costs.json: the rate-limit cost (x-token-cost) of every GET in Pipedrive's OpenAPI files.

    .venv/bin/python scripts/token_costs_from_openapi.py [--check]

Keys are request paths as the connector sends them (/v1/..., /api/v2/...) with every path parameter written {id};
the connector charges each answered request the cost of its path (source_pipedrive/sync.py). --check exits 1 when
the committed file differs from what the OpenAPI files say (unit_tests/test_budget.py runs it).
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "integration_tests" / "emulator" / "openapi"
TARGET = ROOT / "source_pipedrive" / "token_costs.json"


def token_costs() -> dict:
    costs = {}
    for version, prefix in (("v1", "/v1"), ("v2", "/api/v2")):
        spec = yaml.load((OPENAPI / f"pipedrive-{version}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for path, operations in spec["paths"].items():
            cost = (operations.get("get") or {}).get("x-token-cost")
            if cost is not None:
                costs[prefix + re.sub(r"\{[^}]+\}", "{id}", path)] = cost
    return dict(sorted(costs.items()))


if __name__ == "__main__":
    text = json.dumps(token_costs(), indent=0) + "\n"
    if "--check" in sys.argv:
        sys.exit(0 if TARGET.read_text() == text else 1)
    TARGET.write_text(text)
