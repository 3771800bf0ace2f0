"""Local Pipedrive REST API emulator: API v2, the v1 endpoints that have no v2 twin, OAuth, rate limits, faults.

Built from ../shared/pipedrive-api.md and Pipedrive's official OpenAPI files (../shared/openapi); every handler
cites the operation it implements, and behaviour the docs leave open is marked "inferred" where it is decided.

    from integration_tests.emulator import Emulator
    with Emulator(seed=42, scale=200) as emu:          # scale = number of deals
        emu.base_url                                   # http://127.0.0.1:PORT  (/api/v2/..., /v1/..., /api/v1/...)
        emu.truth("deals")                             # {id: record} incl. deleted/archived rows
        emu.catalogue_truth("deal_changelog", 7)       # secondary data sets (catalogue.CATALOGUE): flow, changelogs,
        emu.catalogue_truth("deal_changelog")          #   participants, mail, projects, goals, roles, recents ...
                                                       #   per parent, or {parent_id: [...]} over all parents
        emu.mutate(update_fraction=0.01, add=0, delete_fraction=0.0, entities=None, same_second=True)
        emu.delete_records("pipelines", [2]); emu.restore_records("persons", [5])   # soft delete / UI restore
        emu.stats(); emu.reset_stats(); emu.set_faults(error_every=10)   # stats()["today"]: this budget day's counters
        emu.new_day()                                  # the server-midnight budget reset (also at real midnight in
                                                       #   Emulator(timezone=..., clock=...))
        emu.issue_oauth_refresh_token("client-id")
        emu.clock()                                    # the account's clock: Emulator(clock=...) or time.time; it
                                                       #   stamps every change and is /v1/recents' "now"
        emu.change_reference("filters"); emu.add_reference("deal_fields"); emu.delete_reference("stages", 16)
                                                       # reference data as Pipedrive's writes leave it (reference.py)
    Emulator(seed, scale, users=N)                     # 1..50 users (default min(20, 3 + scale // 1000))

The same hooks are served without auth under /_emulator/ (see hooks.py). CLI: python -m integration_tests.emulator.
"""
from .server import Emulator

__all__ = ["Emulator"]
