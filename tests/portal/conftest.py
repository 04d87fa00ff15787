from tests.auth.conftest import client, users  # noqa: F401 (fixtures)
