"""python -m integration_tests.emulator --port 0 --seed 42 --scale 1000 [--users N] [--burst-limit N]
[--daily-budget N] [--timezone ZONE]"""
from __future__ import annotations

import argparse
import signal
import threading

from .server import Emulator, tune_process_for_serving


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m integration_tests.emulator", description=__doc__)
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", type=int, default=1000, help="number of deals; other entities scale with it")
    ap.add_argument("--users", type=int, default=None,
                    help="number of users, 1..50 (default: min(20, 3 + scale // 1000))")
    ap.add_argument("--burst-limit", type=int, default=None, help="requests per rolling 2 s per token")
    ap.add_argument("--daily-budget", type=int, default=None, help="the company's daily token budget")
    ap.add_argument("--timezone", default="UTC", help="server time zone whose midnight resets the daily budget")
    ap.add_argument("--api-token", action="append", default=None, help="accepted API token (repeatable)")
    args = ap.parse_args(argv)
    # --users outside 1..50: Emulator raises ValueError before anything listens
    emu = Emulator(seed=args.seed, scale=args.scale, api_tokens=tuple(args.api_token or ("test-token",)),
                   burst_limit=args.burst_limit, daily_budget=args.daily_budget, timezone=args.timezone,
                   users=args.users)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    tune_process_for_serving()  # we own this process
    emu.start(args.port)
    print(f"EMULATOR_URL={emu.base_url}", flush=True)
    try:
        stop.wait()
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
