"""schemathesis against the OpenAPI document of create_app: no operation answers 5xx.

Runs in-process (ASGI transport) with an admin key, a few examples per operation.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from tests.server._server_support import NOW, TestClient  # noqa: E402

from segmint.config import ServerConfig  # noqa: E402
from segmint.server import ServerSettings, create_app  # noqa: E402
from segmint.workspace import Workspace  # noqa: E402

#: examples per operation: enough to reach every status path, small enough for < 60 s
EXAMPLES = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("st") / "shop", default_region="HK")
    token = ws.keys_create("admin", name="schemathesis").token
    unlimited = ServerConfig(admin_rate_limit=None, ingest_rate_limit=None)
    app = create_app(ws, settings=ServerSettings(clock=lambda: NOW, rate_limits=unlimited))
    with TestClient(app) as client:  # runs the lifespan: the writer thread is up
        client.post(
            "/v1/identify",
            json={"userId": "u1", "traits": {"email": "amy@shop.hk"}},
            auth=(token, ""),
        )
        yield app, token
    ws.close()


def _explore(operation, token: str, failures: list[str]) -> None:
    """Run ``EXAMPLES`` generated requests of one operation; collect 5xx answers."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        try:
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:  # collect every operation's failure, report them together
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:400]}")

    check()


def test_no_operation_answers_with_a_server_error(served):
    app, token = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        _explore(operation, token, failures)
    assert len(operations) >= 30
    assert failures == []
