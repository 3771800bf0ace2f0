"""Keeps CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 from failing a stream at random under threads.

Those releases kept the AST constructor's recursion depth in interpreter-wide state (CPython gh-106905, fixed in
3.11.8 and 3.12.2): when two threads build an AST at once and a garbage collection lets one run inside the other,
ast.parse raises SystemError('AST constructor recursion depth mismatch'). airbyte-cdk builds one for every template
it renders (ast.literal_eval), in every worker thread, and Debian 12 ships Python 3.11.2. On those releases
ast.parse (which literal_eval calls) is serialised by a lock; on every other interpreter nothing changes.
"""

import ast
import sys
import threading
from typing import Tuple

AFFECTED = (((3, 11, 0), (3, 11, 7)), ((3, 12, 0), (3, 12, 1)))


def affected(version: Tuple[int, int, int] = tuple(sys.version_info[:3])) -> bool:  # type: ignore[assignment]
    return any(low <= version <= high for low, high in AFFECTED)


def serialise_ast_parsing() -> bool:
    """Installs the lock on affected interpreters (once); True when ast.parse is serialised."""
    if not affected():
        return False
    if getattr(ast.parse, "serialised_by_source_pipedrive", False):
        return True
    lock, parse = threading.RLock(), ast.parse

    def serialised_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            return parse(*args, **kwargs)

    serialised_parse.serialised_by_source_pipedrive = True  # type: ignore[attr-defined]
    ast.parse = serialised_parse  # ast.literal_eval looks parse up in the module at each call
    return True
