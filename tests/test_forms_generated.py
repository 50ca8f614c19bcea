"""Generated input for the web pages: every list with hand-made arguments, every form with odd values.

Петрова (scope "own") opens every list with generated `_flt_`, `_oc_`, `_od_`, `psize_`, `page_`
and `q` arguments, and sends every form she can reach with long, empty, NUL, emoji, right-to-left,
huge-number and impossible-date values. No answer may be a 5xx, and nothing of Сидоров's changes.
The seed is fixed (derandomized) and the examples bounded.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.conftest import csrf_token
from tests.test_access import petrova, world  # noqa: F401  (fixtures: her world of shared clients)
from tests.test_openapi_generated import _foreign_state, assert_nothing_foreign_changed, shared_world  # noqa: F401

EXAMPLES = int(os.environ.get("FORM_EXAMPLES", 25))
TALLY: Counter[str] = Counter()
BACKEND = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"

ODD_VALUES = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "😀🚚📦" * 3,
    "\u202eтекст справа налево",
    "\u200b",
    "ж" * 300,
    "x" * 10_001,
    "9" * 30,
    str(2**63),
    str(-(2**63) - 1),
    "-1",
    "0",
    "1.5",
    "1e999",
    "NaN",
    "Infinity",
    "1 250 000,50",
    "0001-01-01",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "2026-02-30",
    "31.12.2026",
    "１２",
    "٣",
    "responsible",
    "organization",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "(((( ",
    "%00",
]
VALUE = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# A list answer is cheap: twice the examples.
LIST_SETTINGS = settings(SETTINGS, max_examples=2 * EXAMPLES)

LISTS = {
    "OrganizationView": ("/organizationview/list/", ["name", "inn", "city", "responsible", "phones", "email", "nope"]),
    "ContactView": ("/contactview/list/", ["full_name", "email", "is_primary", "organization", "nope"]),
    "RequestView": (
        "/requestview/list/",
        ["number", "request_date", "status", "contract_price", "responsible", "organization", "nope"],
    ),
}


def _list_arguments(view: str, columns: list[str]):
    key = st.one_of(
        st.builds(lambda i, c: f"_flt_{i}_{c}", st.integers(0, 12), st.sampled_from(columns)),
        st.sampled_from([f"_oc_{view}", f"_od_{view}", f"psize_{view}", f"page_{view}", "q", "status", "delivery"]),
        st.sampled_from(["_oc_OrganizationRequestsView", "page_ContactView", "request_status", "everyone"]),
    )
    return st.dictionaries(
        key, st.one_of(VALUE, st.sampled_from(columns), st.sampled_from(["asc", "desc"])), max_size=5
    )


def _record(key: str, status: int, failures: list[str], what: str) -> None:
    TALLY[f"{BACKEND}/{key} cases"] += 1
    if status >= 500:
        TALLY[f"{BACKEND}/{key} 5xx"] += 1
        if len(failures) < 20:
            failures.append(f"{status}: {what}")


@pytest.mark.parametrize("view", sorted(LISTS))
def test_generated_list_arguments_never_answer_5xx(app, petrova, shared_world, view):  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False
    url, columns = LISTS[view]
    failures: list[str] = []

    @given(arguments=_list_arguments(view, columns))
    @LIST_SETTINGS
    def probe(arguments: dict[str, str]) -> None:
        answer = petrova.get(url, query_string=arguments)
        _record("lists", answer.status_code, failures, f"GET {url} {arguments!r}")

    probe()
    assert failures == [], "\n".join(failures)


ITEM = ["equipment-0-equipment_type", "equipment-0-name", "equipment-0-quantity", "equipment-1-equipment_type"]
FINANCE = ["payment_terms", "contract_number", "invoice_number", "contract_price", "currency", "finance_comment"]
ORGANIZATION = ["name", "inn", "industry", "city", "address", "phones", "email", "website", "notes", "responsible"]
CONTACT = ["organization", "full_name", "position", "work_phone", "mobile_phone", "email", "is_primary"]
REQUEST = ["organization", "request_date", "responsible", *ITEM]
NEW_ORGANIZATION = {"name": "ООО «Проба пера»", "responsible": "{her}"}
NEW_CONTACT = {"organization": "{own_org}", "full_name": "Пробин Пётр"}
NEW_REQUEST = {
    "organization": "{own_org}",
    "request_date": "2026-01-01",
    "responsible": "{her}",
    "currency": "RUB",
    "equipment-0-equipment_type": "Насос",
    "equipment-0-quantity": "1",
}
# Every form Петрова can send, on her records, a shared client's and a colleague's: (URL, fields,
# a valid submission). A case is either the generated values alone, or the valid submission with
# some of its fields replaced: the write then gets past the form's rules to the access policy.
FORMS = {
    "new organisation": ("/organizationview/add", ORGANIZATION, NEW_ORGANIZATION),
    "her organisation": ("/organizationview/edit/{own_org}", ORGANIZATION, NEW_ORGANIZATION),
    "shared organisation": ("/organizationview/edit/{shared_org}", ORGANIZATION, NEW_ORGANIZATION),
    "delete the shared organisation": ("/organizationview/delete/{shared_org}", [], {}),
    "colleague's organisation": ("/organizationview/edit/{org}", ORGANIZATION, NEW_ORGANIZATION),
    "new contact": ("/contactview/add", CONTACT, NEW_CONTACT),
    "shared organisation's contact": ("/contactview/edit/{shared_contact}", CONTACT, NEW_CONTACT),
    "delete the shared organisation's contact": ("/contactview/delete/{shared_contact}", [], {}),
    "colleague's contact": ("/contactview/edit/{contact}", CONTACT, NEW_CONTACT),
    "new request": ("/requestview/add", REQUEST, NEW_REQUEST),
    "her request": ("/requestview/edit/{own_request}", [*REQUEST, *FINANCE], NEW_REQUEST),
    "her request on the shared organisation": (
        "/requestview/edit/{shared_request}",
        [*REQUEST, *FINANCE],
        {**NEW_REQUEST, "organization": "{shared_org}"},
    ),
    "colleague's request": ("/requestview/edit/{request}", [*REQUEST, *FINANCE], NEW_REQUEST),
    "colleague's request on the shared organisation": (
        "/requestview/edit/{shared_colleague_request}",
        [*REQUEST, *FINANCE],
        {**NEW_REQUEST, "organization": "{shared_org}"},
    ),
    "status of her request": (
        "/requestview/status/{shared_request}",
        ["status", "comment"],
        {"status": "stalled", "comment": "Проба"},
    ),
    "delivery of her request": (
        "/requestview/delivery/{own_request}",
        ["delivery_status", "comment"],
        {"delivery_status": "shipped", "comment": "Проба"},
    ),
    "comment on a colleague's request": ("/requestview/comment/{request}", ["comment"], {"comment": "Проба"}),
    "new reminder": (
        "/reminders/new",
        ["text", "due", "preset", "organization_id", "request_id"],
        {"text": "Позвонить", "due": "2030-01-01T10:00", "organization_id": "{shared_org}"},
    ),
    "move a colleague's reminder": ("/reminders/{reminder}/move", ["due", "preset"], {"due": "2030-01-01T10:00"}),
}


def _field_values(records: dict) -> dict:
    """Odd values for every field; the related fields also take the real ids that matter (the
    colleague's and the shared client's records, her colleague as responsible, nobody), so that a
    write the access policy must refuse is really tried."""
    organizations = st.sampled_from([str(records[key]) for key in ("org", "shared_org", "own_org")])
    requests = st.sampled_from([str(records[key]) for key in ("request", "shared_colleague_request", "shared_request")])
    people = st.sampled_from([str(records["her"]), str(records["sidorov"]), ""])
    related = {
        "organization": organizations,
        "organization_id": organizations,
        "request_id": requests,
        "responsible": people,
    }
    return {name: st.one_of(related[name], VALUE) if name in related else VALUE for name in _ALL_FIELDS}


_ALL_FIELDS = sorted({name for _url, fields, _valid in FORMS.values() for name in fields})


@pytest.mark.parametrize("form", sorted(FORMS))
def test_generated_form_values_never_answer_5xx_nor_change_a_colleagues_record(app, petrova, shared_world, form):  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False
    template, fields, valid = FORMS[form]
    url = template.format(**shared_world)
    valid = {name: value.format(**shared_world) for name, value in valid.items()}
    token = csrf_token(petrova, "/reminders/new")  # one token per session serves every form
    before = _foreign_state(app, shared_world)
    failures: list[str] = []
    values = _field_values(shared_world)

    @given(values=st.fixed_dictionaries({}, optional={name: values[name] for name in fields}), careful=st.booleans())
    @example(values={}, careful=True)  # the valid submission as it is: a write that must be refused, or may be
    @SETTINGS
    def probe(values: dict[str, str], careful: bool) -> None:
        data = {**valid, **values} if careful else values
        answer = petrova.post(url, data={**data, "csrf_token": token})
        _record("forms", answer.status_code, failures, f"POST {url} {data!r}")

    probe()
    assert failures == [], "\n".join(failures)
    assert_nothing_foreign_changed(before, _foreign_state(app, shared_world), f"POST {url}")


def generated_counts() -> dict[str, tuple[int, int]]:
    """Cases and 5xx answers by layer, for the summary line at the end of the run (tests/conftest.py)."""
    layers = ("forms", "lists")
    return {
        layer: (TALLY[f"{BACKEND}/{layer} cases"], TALLY[f"{BACKEND}/{layer} 5xx"])
        for layer in layers
        if TALLY[f"{BACKEND}/{layer} cases"]
    }
