"""Authentication: API token (header or legacy query parameter) and OAuth 2.0 (pipedrive-api.md §5, §7)."""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from .common import Response, dumps
from .spec_tables import SCOPES

# Every scope named by the openapi files: the default grant of an OAuth client (no 403s unless a test narrows it).
ALL_SCOPES = frozenset(s for scopes in SCOPES.values() if scopes for s in scopes)
ACCESS_TTL = 3599  # openapi example and OAUTH docs (access token lives 60 min)


@dataclass(frozen=True)
class Principal:
    kind: str  # "api_token" | "oauth"
    key: str  # rate-limit bucket: the API token, or the OAuth grant (client + refresh chain)
    scopes: frozenset = ALL_SCOPES
    token_in_query: bool = False


def unauthorized() -> Response:
    # Live 401 observed 2026-09-26 (§7): gateway header plus this exact body
    body = {"success": False, "error": "unauthorized access", "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com"}
    return Response(401, dumps(body), {"x-401-by-gw": "true"})


def scope_mismatch() -> Response:
    # PHP#14 raw body (§7)
    return Response(403, dumps({"success": False, "error": "Scope and URL mismatch", "errorCode": 403}))


def _oauth_error(status: int, error: str, description: str) -> Response:
    # Token-endpoint error body is UNVERIFIED (§5.3); RFC 6749 §5.2 shape is the plausible one
    return Response(status, dumps({"error": error, "error_description": description}))


class Auth:
    def __init__(self, api_tokens, oauth_clients, api_domain, access_ttl: int = ACCESS_TTL):
        self.api_tokens = set(api_tokens)
        self.clients = {}
        for cid, conf in (oauth_clients or {}).items():
            # value: the client secret, or {"secret": ..., "scopes": [...]} to narrow what the app was granted
            if isinstance(conf, dict):
                self.clients[cid] = (conf["secret"], frozenset(conf.get("scopes") or ALL_SCOPES))
            else:
                self.clients[cid] = (conf, ALL_SCOPES)
        self.api_domain = api_domain  # callable -> base URL (known only once the server is bound)
        self.access_ttl = access_ttl
        self.lock = threading.Lock()
        self.refresh_tokens: dict = {}  # token -> (client_id, grant_id)
        self.access_tokens: dict = {}  # token -> (client_id, grant_id, expiry)
        self.codes: dict = {}  # authorization code -> (client_id, expiry, redirect_uri)

    # ---- API requests --------------------------------------------------------------------------------------
    def authenticate(self, req):
        """Principal for a request, or None (-> 401). Bearer beats x-api-token beats ?api_token=."""
        header = req.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            with self.lock:
                hit = self.access_tokens.get(header[7:].strip())
                if hit is None or hit[2] < time.time():
                    return None  # expired access token: 401 like any invalid token (UNVERIFIED body, §7)
                cid, grant, _ = hit
                return Principal("oauth", f"oauth:{cid}:{grant}", self.clients[cid][1])
        token = req.headers.get("x-api-token")
        in_query = False
        if token is None and "api_token" in req.query:
            token, in_query = req.query["api_token"][-1], True  # legacy, still accepted (§5.1, inferred)
        if token is not None and token in self.api_tokens:
            return Principal("api_token", f"token:{token}", ALL_SCOPES, in_query)
        return None

    @staticmethod
    def allowed(principal: Principal, method: str, template: str) -> bool:
        scopes = SCOPES.get((method, template))
        if principal.kind != "oauth" or not scopes:
            return True  # API tokens carry the user's full permissions (§5.1)
        return bool(principal.scopes.intersection(scopes))

    # ---- OAuth server (POST /oauth/token, openapi v1 get-tokens / refresh-tokens) ---------------------------
    def issue_refresh_token(self, client_id: str) -> str:
        if client_id not in self.clients:
            raise KeyError(client_id)
        with self.lock:
            token = self._new_refresh(client_id, secrets.token_hex(8))
        return token

    def issue_code(self, client_id: str, redirect_uri: str = "") -> str:
        if client_id not in self.clients:
            raise KeyError(client_id)
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (client_id, time.time() + 300, redirect_uri)  # codes live 5 minutes (OAUTH)
        return code

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens = {k: (c, g, 0.0) for k, (c, g, _) in self.access_tokens.items()}

    def _new_refresh(self, client_id: str, grant: str) -> str:
        # Format of the openapi example ("1:1:<40 hex>")
        token = f"1:1:{hashlib.sha1(secrets.token_bytes(16)).hexdigest()}"
        self.refresh_tokens[token] = (client_id, grant)
        return token

    def token_endpoint(self, req) -> Response:
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        cid, secret = None, None
        header = req.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return _oauth_error(401, "invalid_client", "Malformed Basic authorization header")
        else:  # body credentials are allowed but discouraged (§5.3)
            cid, secret = form.get("client_id"), form.get("client_secret")
        if cid not in self.clients or not secrets.compare_digest(str(secret), self.clients[cid][0]):
            return _oauth_error(401, "invalid_client", "Invalid client credentials")
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "refresh_token":
                old = form.get("refresh_token")
                hit = self.refresh_tokens.get(old)
                if hit is None or hit[0] != cid:
                    return _oauth_error(400, "invalid_grant", "Invalid or already used refresh token")
                # Rotation: the docs say the same token comes back (§5.3), Airbyte's mock rotates; we rotate so a
                # client that does not persist the returned token fails here rather than in production.
                del self.refresh_tokens[old]
                grant = hit[1]
            elif grant_type == "authorization_code":
                hit = self.codes.pop(form.get("code"), None)
                if hit is None or hit[0] != cid or hit[1] < time.time():
                    return _oauth_error(400, "invalid_grant", "Invalid or expired authorization code")
                if hit[2] and form.get("redirect_uri") != hit[2]:
                    return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
                grant = secrets.token_hex(8)
            else:
                return _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
            access = "v1u:" + base64.b64encode(secrets.token_bytes(96)).decode()
            self.access_tokens[access] = (cid, grant, time.time() + self.access_ttl)
            refresh = self._new_refresh(cid, grant)
        body = {"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
                "scope": ",".join(sorted(self.clients[cid][1])), "expires_in": self.access_ttl,
                "api_domain": self.api_domain()}
        return Response(200, dumps(body))
