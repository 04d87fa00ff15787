import pytest


@pytest.fixture
def client(app, network):
    return app.test_client()


@pytest.fixture
def keys(network):
    """The demo partners' API keys."""
    return [p["api_key"] for p in network["partners"]]
