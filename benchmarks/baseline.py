r"""Bare baseline: the cheapest Python client that reads what the connector reads, to put its throughput in context.

One sequential loop, standard library only: one keep-alive http.client connection, the same requests the connector
sends (per stream: the custom-field definitions once, then GET /api/v2/<entity>?sort_by=update_time&
sort_direction=asc&updated_since=...&limit=500, following additional_data.next_cursor), json.loads of every page,
and nothing written anywhere. No schema, no transformation, no message serialisation, no threads.

    python benchmarks/baseline.py --url http://127.0.0.1:PORT [--token test-token] \
        [--streams deals persons organizations activities] [--updated-since deals=2026-10-31T04:40:47Z ...] \
        [--spec spec.json]

Without --spec the endpoints and query parameters come from DEFAULT_SPEC below. benchmarks/run.py instead writes a
spec derived from the installed connector's manifest (endpoint, fields endpoint, static request_parameters, page
size per stream), so the baseline keeps sending exactly what the connector sends when the manifest changes.

Prints one JSON object on stdout: per stream records, requests, 429s and wall seconds, and the totals. CPU time and
peak RSS are measured from outside by benchmarks/run.py (os.wait4 on this process), the same way as the connector's.
A 429 is waited out (x-ratelimit-reset / Retry-After) and retried, so the loop also works against a rate limit.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from urllib.parse import urlencode, urlsplit

# stream -> (list endpoint under /api/v2, custom-field definitions endpoint or None), as in manifest.yaml
ENDPOINTS = {
    "deals": ("deals", "dealFields"),
    "persons": ("persons", "personFields"),
    "organizations": ("organizations", "organizationFields"),
    "activities": ("activities", None),
    "products": ("products", "productFields"),
    "deals_archived": ("deals/archived", "dealFields"),
}
SORT = {"sort_by": "update_time", "sort_direction": "asc"}
DEFAULT_SPEC = {name: {"endpoint": ep, "fields_endpoint": fe, "params": dict(SORT), "page_size": 500}
                for name, (ep, fe) in ENDPOINTS.items()}
DEFAULT_SPEC["deals"]["params"]["status"] = "open,won,lost,deleted"  # deals are read with their deleted rows
DEFAULT_START = "2000-01-01T00:00:00Z"  # the connector's default replication_start_date


class Client:
    def __init__(self, base_url: str, token: str):
        parts = urlsplit(base_url)
        self.prefix = parts.path.rstrip("/")
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=300)
        self.headers = {"x-api-token": token, "Accept": "application/json", "Connection": "keep-alive"}
        self.requests = 0
        self.rate_limited = 0

    def get(self, path: str, params: dict) -> dict:
        url = f"{self.prefix}{path}?{urlencode(params)}"
        while True:
            self.requests += 1
            try:
                self.conn.request("GET", url, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server dropped the keep-alive connection: reconnect once and retry
                self.conn.request("GET", url, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read()
            if resp.status == 429:
                self.rate_limited += 1
                wait = resp.getheader("Retry-After") or resp.getheader("x-ratelimit-reset") or "1"
                time.sleep(max(0.05, float(wait)))
                continue
            if resp.status != 200:
                raise RuntimeError(f"GET {url}: HTTP {resp.status}: {body[:300]!r}")
            return json.loads(body)

    def pages(self, path: str, params: dict, page_size: int = 500):
        params = dict(params, limit=page_size)
        while True:
            body = self.get(path, params)
            yield body.get("data") or []
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor


def read(base_url: str, token: str, streams, updated_since: dict, spec: dict = DEFAULT_SPEC) -> dict:
    client = Client(base_url, token)
    out = {"streams": {}}
    t_all = time.perf_counter()
    for stream in streams:
        s = spec[stream]
        t0, req0, rl0 = time.perf_counter(), client.requests, client.rate_limited
        if s.get("fields_endpoint"):  # the connector reads the field definitions once per stream and sync
            for _ in client.pages(f"/api/v2/{s['fields_endpoint']}", {}):
                pass
        records = 0
        params = dict(s["params"], updated_since=updated_since.get(stream) or DEFAULT_START)
        for data in client.pages(f"/api/v2/{s['endpoint']}", params, s.get("page_size") or 500):
            records += len(data)
        out["streams"][stream] = {"records": records, "requests": client.requests - req0,
                                  "rate_limited_429": client.rate_limited - rl0,
                                  "wall_s": round(time.perf_counter() - t0, 4)}
    out["records"] = sum(s["records"] for s in out["streams"].values())
    out["requests"] = client.requests
    out["rate_limited_429"] = client.rate_limited
    out["wall_s"] = round(time.perf_counter() - t_all, 4)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="emulator (or API) base URL, without /api/v2")
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--streams", nargs="+", default=["deals", "persons", "organizations", "activities"])
    ap.add_argument("--updated-since", nargs="*", default=[], metavar="STREAM=RFC3339",
                    help="per-stream updated_since (an incremental read from the connector's state)")
    ap.add_argument("--spec", default=None, help="JSON file {stream: {endpoint, fields_endpoint, params, page_size}}")
    args = ap.parse_args(argv)
    since = dict(item.split("=", 1) for item in args.updated_since)
    spec = DEFAULT_SPEC
    if args.spec:
        with open(args.spec) as f:
            spec = json.load(f)
    json.dump(read(args.url, args.token, args.streams, since, spec), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
