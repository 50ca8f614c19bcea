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
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, CrmUser, Organization, Reminder, Request
from tests.conftest import api_token
from tests.factories import make_request
from tests.test_access import world  # noqa: F401  (fixture: Петрова's and Сидоров's records)

EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", 8))
# Cases per operation aimed at one of the records below (the generated body, a real id).
AIMED_EXAMPLES = int(os.environ.get("OPENAPI_AIMED_EXAMPLES", 4))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# What each run tried, by backend and user: the summary line at the end of the run (tests/conftest.py).
TALLY: Counter[str] = Counter()
BACKEND = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"


def _spec(client, headers: dict[str, str]) -> dict:
    answer = client.get("/api/v1/_openapi", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()


def _user_id(username: str) -> int:
    return db.session.scalars(select(CrmUser.id).where(CrmUser.username == username)).one()


@pytest.fixture
def shared_world(app, world: dict) -> dict:  # noqa: F811
    """The world of tests/test_access.py, plus Сидоров's own request on the shared client: the
    organisation Петрова sees only through her request there holds a colleague's request too."""
    with app.app_context(), app.test_request_context():
        sidorov = db.session.get(CrmUser, _user_id("sidorov"))
        shared = db.session.get(Organization, world["shared_org"])
        colleagues = make_request(shared, responsible=sidorov, author=sidorov)
        db.session.commit()
        return {**world, "shared_colleague_request": colleagues.id, "her": _user_id("petrova"), "sidorov": sidorov.id}


def _organization_state(org: Organization | None) -> tuple | None:
    if org is None:
        return None
    fields = ("name", "inn", "industry", "city", "address", "phones", "email", "website", "notes", "responsible_id")
    return (*(getattr(org, name) for name in fields), sorted(contact.id for contact in org.contacts))


def _contact_state(contact: Contact | None) -> tuple | None:
    if contact is None:
        return None
    fields = ("full_name", "position", "work_phone", "mobile_phone", "email", "notes", "is_primary", "organization_id")
    return tuple(getattr(contact, name) for name in fields)


def _request_state(req: Request | None) -> tuple | None:
    if req is None:
        return None
    return (
        req.status,
        req.delivery_status,
        req.contract_price,
        req.currency,
        req.payment_terms,
        req.organization_id,
        req.responsible_id,
        len(req.comments),
        len(req.items),
    )


def _foreign_state(app, records: dict) -> dict:
    """What Петрова may not change: Сидоров's organisation, contact, request and reminder; the
    shared client (his organisation where she has her own request), its contact and his request
    there (SPEC §3, issue 11 defect 5); and who is responsible for her own requests (never nobody,
    never a colleague). Her own records may be deleted: that is hers to do."""
    with app.app_context():
        db.session.expire_all()
        reminder = db.session.get(Reminder, records["reminder"])
        state = {
            "colleague's organisation": _organization_state(db.session.get(Organization, records["org"])),
            "colleague's contact": _contact_state(db.session.get(Contact, records["contact"])),
            "colleague's request": _request_state(db.session.get(Request, records["request"])),
            "colleague's reminder": reminder and (reminder.text, reminder.due_at, reminder.done_at, reminder.owner_id),
            "shared organisation": _organization_state(db.session.get(Organization, records["shared_org"])),
            "shared organisation's contact": _contact_state(db.session.get(Contact, records["shared_contact"])),
        }
        if "shared_colleague_request" in records:
            colleagues = db.session.get(Request, records["shared_colleague_request"])
            state["colleague's request on the shared organisation"] = _request_state(colleagues)
        for key in ("own_request", "shared_request"):
            req = db.session.get(Request, records[key])
            state[f"responsible of her {key}"] = "deleted" if req is None else req.responsible_id
        return state


def assert_nothing_foreign_changed(before: dict, after: dict, what: str) -> None:
    changed = {key: (before[key], after.get(key)) for key in before if after.get(key) != before[key]}
    if "deleted" in {after.get(f"responsible of her {key}") for key in ("own_request", "shared_request")}:
        changed = {key: value for key, value in changed.items() if not key.startswith("responsible of her")}
    assert changed == {}, f"{what} changed what is not hers: {changed}"


def _aims(records: dict, operation) -> list[dict]:
    """Real ids for an operation, so that the generated cases reach the records that matter: the
    colleague's, the shared client's, and hers (where only a change of responsible is refused).
    Each aim names the path id and the body's related ids it sets; the rest stays generated."""
    if not records:
        return []
    resource = operation.path.split("/")[3]
    targets = {
        "organization": ["org", "shared_org"],
        "contact": ["contact", "shared_contact"],
        "request": ["request", "shared_colleague_request"],
        "reminder": ["reminder"],
    }.get(resource, [])
    aims: list[dict] = []
    if "{pk}" in operation.path:
        aims += [{"pk": records[key]} for key in targets]
        if operation.method.upper() == "PUT" and resource in ("organization", "request"):
            mine = "shared_request" if resource == "request" else "own_org"
            # Take the shared client over, hand it or her request to a colleague, leave it without one.
            owner = "shared_org" if resource == "organization" else mine
            aims += [{"pk": records[owner], "responsible": who} for who in (records["her"], records["sidorov"], None)]
            aims += [{"pk": records[mine], "responsible": who} for who in (records["sidorov"], None)]
    elif operation.method.upper() == "POST" and resource in ("contact", "request", "reminder"):
        # New records on the colleague's and on the shared client, or on his request.
        aims += [{"organization": records[key]} for key in ("org", "shared_org")]
        if resource == "reminder":
            aims += [{"request": records[key]} for key in ("request", "shared_colleague_request")]
    return aims


def _run_operations(app, client, username: str, records: dict | None = None) -> list[str]:
    """Every operation of the description with generated cases; the failures as readable lines.

    First the cases aimed at real records (deletes last, so that she still sees the shared client
    while the edits are tried), then the freely generated ones."""
    headers = {"Authorization": f"Bearer {api_token(client, username)}"}
    schema = schemathesis.openapi.from_dict(_spec(client, headers))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # The security API is tested below without a token: login and refresh are the unauthenticated door.
    operations = [operation for operation in operations if not operation.path.startswith("/api/v1/security/")]
    key = f"{BACKEND}/{username}"
    for operation in sorted(operations, key=lambda operation: operation.method.upper() == "DELETE"):
        for aim in _aims(records or {}, operation):
            _run_one(app, operation, headers, failures, key, aim=aim)
    for operation in operations:
        _run_one(app, operation, headers, failures, key)
    return failures


def _aimed(case, aim: dict) -> None:
    for name, value in aim.items():
        if name == "pk":
            case.path_parameters = {**(case.path_parameters or {}), "pk": value}
        elif isinstance(case.body, dict):
            case.body[name] = value


def _run_one(app, operation, headers: dict[str, str], failures: list[str], key: str, aim: dict | None = None) -> None:
    if aim is None:
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
            generation_mode=GenerationMode.NEGATIVE
        )
    else:  # a valid case, so that the aimed write is not refused for its form before its rights
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES if aim is None else AIMED_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def probe(case) -> None:
        case.headers = {**(case.headers or {}), **headers}
        if aim:
            _aimed(case, aim)
        response = case.call(app=app)
        TALLY[f"{key} cases"] += 1
        if response.status_code >= 500:
            TALLY[f"{key} 5xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # collected: one line per operation and check
            detail = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())[:400]
            line = f"{operation.label} {case.path_parameters or ''}: {detail}"
            if line not in failures:
                failures.append(line)

    probe()


@pytest.mark.parametrize("username", ["petrova", "admin"])
def test_generated_calls_never_fail_and_match_the_description(app, client, shared_world, username):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is an answer to count, not a test crash
    before = _foreign_state(app, shared_world)
    failures = _run_operations(app, client, username, shared_world)
    assert failures == [], "\n".join(failures)
    if username == "petrova":
        assert_nothing_foreign_changed(before, _foreign_state(app, shared_world), "Петрова's generated calls")


def test_generated_logins_never_fail(app, client):
    """The unauthenticated door: any body, any type, never a 5xx."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    schema = schemathesis.openapi.from_dict(_spec(client, {"Authorization": f"Bearer {api_token(client, 'admin')}"}))
    operation = schema.find_operation_by_label("POST /api/v1/security/login")
    failures: list[str] = []
    _run_one(app, operation, {}, failures, f"{BACKEND}/anonymous")
    assert [line for line in failures if "Server error" in line] == [], "\n".join(failures)


def generated_counts() -> dict[str, tuple[int, int]]:
    """Cases and 5xx answers by user, for the summary line at the end of the run (tests/conftest.py)."""
    users = sorted({key.split("/")[1].split()[0] for key in TALLY})
    return {f"openapi {user}": (TALLY[f"{BACKEND}/{user} cases"], TALLY[f"{BACKEND}/{user} 5xx"]) for user in users}
