"""Loaded by the connector only in integration_tests/platform_model.py's runs, which start it under Debian's faketime
(libfaketime) to play days of a schedule in minutes. libfaketime 0.9.10 answers Python's time.sleep (an absolute
clock_nanosleep on the monotonic clock) with EINVAL even with DONT_FAKE_MONOTONIC=1, while timed waits work, so
sleeps become timed waits here. Nothing of the connector's code changes."""

import threading
import time


def _sleep(seconds: float) -> None:
    threading.Event().wait(max(0.0, seconds))


time.sleep = _sleep
