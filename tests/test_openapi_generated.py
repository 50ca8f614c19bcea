"""Generated REST calls against the served OpenAPI description (/api/v1/_openapi).

Schemathesis builds requests, valid and invalid, for every operation the API describes, as a
manager with scope "own" (Петрова) and as the administrator. No answer may be a 5xx, every answer
must match what the description promises, and Петрова may change nothing of Сидоров's. The seed is
fixed (derandomized) and the examples per operation bounded, so a run takes the same time and
finds the same cases every time.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from app.models import Contact, Organization, Reminder, Request
from tests.conftest import api_token
from tests.test_access import world  # noqa: F401  (fixture: Петрова's and Сидоров's records)

EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", 8))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# What each run tried, for the report at the end of the session.
TALLY: Counter[str] = Counter()


def _spec(client, headers: dict[str, str]) -> dict:
    answer = client.get("/api/v1/_openapi", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()


def _foreign_state(app, world: dict) -> tuple:  # noqa: F811
    """What Петрова may not change: Сидоров's organisation, contact, request and reminder."""
    with app.app_context():
        db.session.expire_all()
        org = db.session.get(Organization, world["org"])
        contact = db.session.get(Contact, world["contact"])
        req = db.session.get(Request, world["request"])
        reminder = db.session.get(Reminder, world["reminder"])
        return (
            org and (org.name, org.notes, org.responsible_id),
            contact and (contact.full_name, contact.organization_id),
            req and (req.status, req.delivery_status, req.contract_price, req.responsible_id, len(req.comments)),
            reminder and (reminder.text, reminder.due_at, reminder.done_at),
        )


def _run_operations(app, client, username: str) -> list[str]:
    """Every operation of the description with generated cases; the failures as readable lines."""
    headers = {"Authorization": f"Bearer {api_token(client, username)}"}
    schema = schemathesis.openapi.from_dict(_spec(client, headers))
    failures: list[str] = []
    backend = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/security/"):
            continue  # tested below without a token: login and refresh are the unauthenticated door
        _run_one(app, operation, headers, failures, f"{backend}/{username}")
    return failures


def _run_one(app, operation, headers: dict[str, str], failures: list[str], key: str) -> None:
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def probe(case) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(app=app)
        TALLY[f"{key} cases"] += 1
        if response.status_code >= 500:
            TALLY[f"{key} 5xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # collected: one line per operation and check
            detail = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())[:400]
            line = f"{operation.label}: {detail}"
            if line not in failures:
                failures.append(line)

    probe()


@pytest.mark.parametrize("username", ["petrova", "admin"])
def test_generated_calls_never_fail_and_match_the_description(app, client, world, username):  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is an answer to count, not a test crash
    before = _foreign_state(app, world)
    failures = _run_operations(app, client, username)
    assert failures == [], "\n".join(failures)
    if username == "petrova":
        assert _foreign_state(app, world) == before, "Петрова changed a colleague's record"


def test_generated_logins_never_fail(app, client):
    """The unauthenticated door: any body, any type, never a 5xx."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    schema = schemathesis.openapi.from_dict(_spec(client, {"Authorization": f"Bearer {api_token(client, 'admin')}"}))
    operation = schema.find_operation_by_label("POST /api/v1/security/login")
    failures: list[str] = []
    backend = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    _run_one(app, operation, {}, failures, f"{backend}/anonymous")
    assert [line for line in failures if "Server error" in line] == [], "\n".join(failures)


def teardown_module() -> None:
    for key, count in sorted(TALLY.items()):
        print(f"openapi generated: {key}: {count}")
