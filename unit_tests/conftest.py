import pytest


@pytest.fixture(autouse=True)
def no_backoff_sleep(request, monkeypatch):
    """Retries in unit tests must not wait for real: the backoff decisions are asserted, not the clock.

    Tests marked `real_clock` keep real sleeps: the client-side rate budget waits for its 2-second window to move,
    which only the real clock does.
    """
    if request.node.get_closest_marker("real_clock") is None:
        monkeypatch.setattr("time.sleep", lambda seconds: None)
