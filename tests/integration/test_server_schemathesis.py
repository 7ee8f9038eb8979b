"""Property-based fuzzing of every route of the annotation server from its own OpenAPI
schema (schemathesis), logged in as an annotator, an extractor and an admin: whatever the
path, query and form values, the answer is never a 5xx (issue 14).

Forms get the session's CSRF token, so the fuzzed values reach the routes' own checks
instead of stopping at the CSRF check. Logging out is left out (it would end the session
the other examples use). Examples per operation are few to keep CI fast; a failure prints
the request that caused it.
"""

from __future__ import annotations

import pytest
import schemathesis  # the [test] extra: a missing install fails, not skips
from hypothesis import HealthCheck, settings

from annotation_server import Settings, create_app
from tests.annotation_data import build_site, csrf_of  # noqa: E402

ROLES = {"annotator": "ann1", "extractor": "extractor1", "admin": "admin1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from fastapi.testclient import TestClient

    site = build_site(tmp_path_factory.mktemp("fuzz") / "ws", annotators=2, clips=4,
                      per_clip=2)
    app = create_app(Settings.from_workspace(site.workspace, secret_key="fuzz"), openapi=True)
    logins = {}
    with TestClient(app, follow_redirects=False) as client:
        for role, name in ROLES.items():
            client.cookies.clear()
            assert client.get(f"/login/{site.tokens[name]}").status_code == 303
            cookie = client.cookies.get("dfew_session")
            home = {"annotator": "/annotate", "extractor": "/extract", "admin": "/admin"}[role]
            logins[role] = ({"dfew_session": cookie}, csrf_of(client.get(home).text))
    yield app, logins
    site.workspace.close()


@pytest.fixture(scope="module")
def web_schema(served):
    app, _ = served
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/logout")


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_route_answers_5xx(case, served):
    """Each generated request is sent as the annotator, the extractor and the admin."""
    _, logins = served
    body = case.body
    for role, (cookies, csrf) in logins.items():
        if case.method.upper() == "POST" and case.formatted_path != "/logout":
            case.body = {**(body if isinstance(body, dict) else {}), "csrf_token": csrf}
        response = case.call(cookies=cookies)
        assert response.status_code < 500, (role, case.method, case.formatted_path,
                                            case.query, case.body, response.status_code,
                                            response.text[:500])
