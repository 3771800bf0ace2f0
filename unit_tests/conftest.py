import pytest


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """Retries in unit tests must not wait for real: the backoff decisions are asserted, not the clock."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)
