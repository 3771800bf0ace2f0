"""HTTP server, routing and the `Emulator` facade used by tests, the demo and the benchmark."""
from __future__ import annotations

import ctypes
import gc
import itertools
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import api_v1, api_v1_catalogue, api_v2, api_v2_catalogue, hooks
from .auth import Auth, scope_mismatch, unauthorized
from .common import ApiError, Request, Response, error_body
from .data import Dataset
from .rate_limit import RateLimiter, cost_of

_PARAM = re.compile(r"\{(\w+)\}")


def tune_process_for_serving() -> None:
    """Process-wide tweaks for a process that exists to serve the emulator (the CLI calls this; embedders may).

    Cold renders allocate ~2 KB of cached JSON per record. (1) gc.freeze() moves the generated account out of the
    cyclic GC's generations; (2) a 256 MB malloc top pad grows the heap in big steps instead of thousands of small
    brk/page-fault bursts. Together they take a cold 300k-deal scan from ~16k to ~20k records/s (measured).
    """
    gc.freeze()
    try:
        ctypes.CDLL(None).mallopt(-2, 256 << 20)  # M_TOP_PAD; glibc only, silently skipped elsewhere
    except (OSError, AttributeError, TypeError):
        pass


class Router:
    def __init__(self):
        self.static: dict = {}  # path -> (template, handler)
        self.dynamic: list = []  # (regex, template, handler), most literal first
        for method, template, handler in api_v2.ROUTES + api_v2_catalogue.ROUTES:
            self._add(template, template, handler)
        for method, template, handler in api_v1.ROUTES + api_v1_catalogue.ROUTES:
            # v1 answers under /v1/... and /api/v1/... alike (MIG); costs and scopes are keyed by /v1/...
            self._add(template, template, handler)
            self._add("/api" + template, template, handler)
        self.dynamic.sort(key=lambda r: -r[3])

    def _add(self, path: str, template: str, handler) -> None:
        if "{" not in path:
            self.static[path] = (template, handler)
            return
        literal = sum(1 for seg in path.split("/") if seg and "{" not in seg)
        regex = re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", path) + "$")
        self.dynamic.append((regex, template, handler, literal))

    def match(self, path: str):
        hit = self.static.get(path)
        if hit is not None:
            return hit[0], hit[1], {}
        for regex, template, handler, _ in self.dynamic:
            m = regex.match(path)
            if m:
                return template, handler, m.groupdict()
        return None


class Emulator:
    """A local Pipedrive account served over HTTP on 127.0.0.1 (see package docstring for the contract)."""

    def __init__(self, seed: int = 42, scale: int = 200, api_tokens=("test-token",), oauth_clients=None,
                 burst_limit=None, daily_budget=None, *, access_token_ttl: int = 3599, block_after: int = 10,
                 block_seconds: float = 5.0, timezone: str = "UTC", clock=None, cache_bytes: int = 2 << 30,
                 users=None):
        """`daily_budget`: the company's tokens per day, shared by all its API tokens and OAuth grants (None: no
        budget, no daily headers). `timezone`: the server zone whose midnight resets it. `clock`: a callable giving
        epoch seconds (default time.time): the one clock of the account -- it decides the budget day (see
        rate_limit.py), stamps every change (mutate, delete/restore, reference changes) and is the "now" of
        /v1/recents' one-month window; `emu.clock()` reads it. `users`: number of users, 1..50 (None: the scale
        formula min(20, 3 + scale // 1000))."""
        self._clock = clock or time.time
        self.ds = Dataset(seed, scale, cache_bytes, users=users, clock=self._clock)
        clients = {"client-id": "client-secret"} if oauth_clients is None else oauth_clients
        self.auth = Auth(api_tokens, clients, lambda: self.base_url, access_token_ttl)
        self._limits = {"burst_limit": burst_limit, "daily_budget": daily_budget, "block_after": block_after,
                        "block_seconds": block_seconds}
        self.stats_ = hooks.Stats()
        self.limiter = RateLimiter(**self._limits, timezone=timezone, clock=self._clock,
                                   on_new_day=self.stats_.start_day)
        self.stats_.day, self.stats_.date = self.limiter.day, self.limiter.date.isoformat()
        self.stats_.reset()
        self.faults = hooks.Faults()
        self.router = Router()
        self._server = None
        self._thread = None
        self._correlation = itertools.count(1)

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> "Emulator":
        handler = type("Handler", (_Handler,), {"emu": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="pipedrive-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- hooks (also over HTTP under /_emulator/) -----------------------------------------------------------
    def clock(self) -> float:
        """The account's clock (epoch seconds): Emulator(clock=...) or time.time."""
        return self._clock()

    def truth(self, entity: str) -> dict:
        return self.ds.truth(entity)

    def catalogue_truth(self, name: str, parent_id=None, **kw):
        """Truth of a secondary data set (catalogue.CATALOGUE): a list (or object) for global data sets; for
        per-parent ones the list of `parent_id`, or {parent_id: list} over every parent a connector iterates."""
        return self.ds.catalogue_truth(name, parent_id, **kw)

    def mutate(self, update_fraction: float = 0.01, add: int = 0, delete_fraction: float = 0.0, entities=None,
               same_second: bool = True) -> dict:
        return self.ds.mutate(update_fraction, add, delete_fraction, entities, same_second)

    def delete_records(self, entity: str, ids) -> list:
        return self.ds.delete_records(entity, ids)

    def restore_records(self, entity: str, ids) -> list:
        return self.ds.restore_records(entity, ids)

    def change_reference(self, kind: str, rid=None):
        """Edit one reference item (rid None: a deterministic pick): a visible field changes and its own timestamp,
        if any, becomes the clock's now. Returns its id. Kinds and semantics: reference.py."""
        return self.ds.change_reference(kind, rid)

    def add_reference(self, kind: str, parent=None):
        """Create one reference item (`parent`: for child kinds, the parent to add it to); returns its id."""
        return self.ds.add_reference(kind, parent)

    def delete_reference(self, kind: str, rid):
        """What the documented DELETE (or deactivation) leaves behind for item `rid`; returns its id."""
        return self.ds.delete_reference(kind, rid)

    def stats(self) -> dict:
        """Request counters since the last reset_stats(): totals, per path, and `today` (the current budget day:
        requests, tokens, 429s split burst/daily, HTML 403s, day index and date) plus earlier `days`."""
        self.limiter.tick()  # a midnight that passed without traffic still starts a new day
        snap = self.stats_.snapshot()
        snap["daily_budget"] = self.limiter.daily_budget
        snap["daily_budget_remaining"] = self.limiter.remaining if self.limiter.daily_budget is not None else None
        snap["day"] = self.limiter.day
        return snap

    def reset_stats(self) -> None:
        self.stats_.reset()

    def set_faults(self, **kw) -> dict:
        limit_kw = {k: kw[k] for k in ("burst_limit", "daily_budget", "block_after", "block_seconds") if k in kw}
        conf = self.faults.set(**kw)
        if not kw or kw.get("reset"):
            limit_kw = dict(self._limits)  # back to the constructor's configuration
        if limit_kw:
            self.limiter.configure(**limit_kw)
        return {**conf, "burst_limit": self.limiter.burst_limit, "daily_budget": self.limiter.daily_budget}

    def new_day(self) -> None:
        """Stands in for the server-midnight reset: the daily budget is full again and a new stats day begins."""
        self.limiter.new_day()

    reset_daily_budget = new_day  # the older name

    def issue_oauth_refresh_token(self, client_id: str) -> str:
        return self.auth.issue_refresh_token(client_id)

    def issue_oauth_code(self, client_id: str, redirect_uri: str = "") -> str:
        return self.auth.issue_code(client_id, redirect_uri)

    def expire_oauth_access_tokens(self) -> None:
        self.auth.expire_access_tokens()

    # ---- request pipeline -----------------------------------------------------------------------------------
    def dispatch(self, req: Request):
        """Return (Response, fault) where fault is None, 'drop' or 'truncate'."""
        if req.path.startswith("/_emulator/"):
            return hooks.handle(self, req), None
        if req.path in ("/oauth/token", "/oauth/token/"):
            if req.method != "POST":
                return Response(405, error_body("Method not allowed")), None
            with self.stats_.lock:
                self.stats_.oauth_token_requests += 1
            return self.auth.token_endpoint(req), None
        self.limiter.tick()
        hit = self.router.match(req.path)
        if hit is None:
            # unknown path, including /v2/... (only /api/v2 exists, MIG) -> 404 (inferred body); an authenticated
            # caller still passes the rate limiter (free of charge) and gets its headers
            key = f"{req.method} (unknown)"
            resp = Response(404, error_body("Unknown method .", errorCode=404))
            principal = self.auth.authenticate(req)
            if principal is None:
                self.stats_.record(key, 404, 0, 0, False)
                return resp, None
            return self._limited(key, principal, 0, lambda: resp)[0], None
        template, handler, path_params = hit
        req.template, req.path_params = template, path_params
        key = f"{req.method} {template}"
        fault, latency = self.faults.next(template)
        if latency:
            time.sleep(latency / 1000.0)
        if fault is not None:
            with self.stats_.lock:
                self.stats_.faults_injected[fault] += 1
        if fault == "drop":
            return None, "drop"
        if fault == "html":
            resp = Response(503, hooks.HTML_ERROR[503], {}, "text/html")
            self.stats_.record(key, 503, 0, 0, False)
            return resp, None
        if fault == "error":
            status = int(self.faults.conf["error_status"] or 500)
            if status in hooks.HTML_ERROR:  # gateway errors come from the edge as HTML
                resp = Response(status, hooks.HTML_ERROR[status], {}, "text/html")
            else:
                resp = Response(status, error_body("Internal server error" if status >= 500 else "Error"))
            self.stats_.record(key, status, 0, 0, False)
            return resp, None
        principal = self.auth.authenticate(req)
        if principal is None:
            resp = unauthorized()
            self.stats_.record(key, 401, 0, 0, "api_token" in req.query)
            return resp, None
        if req.method != "GET":
            # read-only emulator; the refused request still passes the limiter, free of charge (inferred)
            return self._limited(key, principal, 0, lambda: Response(
                405, error_body("Method not allowed in the emulator (read-only)")))[0], None
        if not self.auth.allowed(principal, req.method, template):
            return self._limited(key, principal, 0, scope_mismatch)[0], None
        req.principal = principal

        def answer():
            try:
                return handler(self, req)
            except ApiError as err:
                return err.response
        resp, admitted = self._limited(key, principal, cost_of(req.method, template), answer)
        return resp, ("truncate" if fault == "truncate" and admitted else None)

    def _limited(self, key: str, principal, cost: int, answer):
        """Pass an authenticated request through the rate limiter; `answer()` builds the response if admitted.
        Once the daily budget is spent every authenticated request is a 429, whatever it asks for (§6.1).
        Returns (response, admitted)."""
        rejection, limit_headers, charged, refusal = self.limiter.admit(principal, cost)
        if rejection is not None:
            self.stats_.record(key, rejection.status, 0, 0, principal.token_in_query, refusal)
            return rejection, False
        resp = answer()
        resp.headers.update(limit_headers)
        self.stats_.record(key, resp.status, charged, resp.records, principal.token_in_query)
        return resp, True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections like they do against Pipedrive
    emu: Emulator

    def version_string(self) -> str:
        return "pipedrive-emulator"

    def log_message(self, fmt, *args) -> None:  # quiet: no per-request stderr lines
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
        )
        resp, fault = self.emu.dispatch(req)
        if fault == "drop":
            self.close_connection = True  # no status line at all: the client sees the connection die
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = resp.body
        if fault == "truncate":  # a cut-off JSON body with a consistent Content-Length
            payload = payload[: max(1, len(payload) // 2)]
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(payload)))
        if not req.path.startswith("/_emulator/"):
            self.send_header("x-correlation-id", f"emu-{next(self.emu._correlation)}")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
