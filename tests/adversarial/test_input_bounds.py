"""Hostile list inputs cost a bounded amount of work (issue 15, finding B1).

Streamlit's multiselect accepts values outside its options from a hand-made browser message, so
a scope, action or column list can be any length and hold anything. Work is counted, never
timed: `Counted` is a list that counts every element it hands out (iteration, indexing,
`count`, `in`, `index`), so a quadratic duplicate check (`scopes.count(s)` for each `s`) shows
as n² reads, and a check that looks at the length first shows as none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, SupportsIndex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.context import Gatehouse
from access.data import broker
from access.errors import GatehouseError, InvalidInput
from access.workflow import create_request, decide_request
from access.workflow.policy import DEFAULT_SCOPES, DataAction, load_policy
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, team

MiB = 1 << 20
# Element reads a call may make whatever the list's length: each known value once for the
# membership check and once more for a copy or a join, with room for one more pass.
MOST_READS = 3 * len(DEFAULT_SCOPES)


class Counted(list[Any]):
    """A list that counts the elements it hands out."""

    reads = 0

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self.reads += 1
            yield item

    def __getitem__(self, index: Any) -> Any:
        got = super().__getitem__(index)
        self.reads += len(got) if isinstance(index, slice) else 1
        return got

    def count(self, value: Any) -> int:
        self.reads += len(self)
        return super().count(value)

    def index(self, value: Any, start: SupportsIndex = 0, stop: SupportsIndex = 2**62) -> int:
        self.reads += len(self)
        return super().index(value, start, stop)

    def __contains__(self, value: object) -> bool:
        self.reads += len(self)
        return super().__contains__(value)


def scopes_of_size(size: int) -> Counted:
    """A list of real scope names, repeated, whose text is about `size` bytes."""
    names = list(DEFAULT_SCOPES)
    each = sum(len(n) + 4 for n in names) / len(names)  # quotes, comma, space
    return Counted((names * (int(size / each) // len(names) + 1))[:int(size / each)])


@pytest.mark.parametrize("scopes", [
    pytest.param(lambda: Counted(["billing"] * 30_000), id="30000-scopes"),
    pytest.param(lambda: scopes_of_size(MiB), id="1MiB-of-scopes"),
])
def test_a_huge_scope_list_is_refused_by_name_without_reading_it(scopes: Any) -> None:
    hostile = scopes()
    policy = load_policy()
    with pytest.raises(InvalidInput) as caught:
        policy.requirements("production", hostile, ["read"])
    assert caught.value.field == "scopes"
    assert f"names {len(hostile)} scopes: at most {len(DEFAULT_SCOPES)}" in caught.value.rule
    assert hostile.reads <= MOST_READS


def test_a_huge_action_list_is_refused_by_name_without_reading_it() -> None:
    hostile = Counted(["read"] * 30_000)
    with pytest.raises(InvalidInput) as caught:
        load_policy().requirements("production", ["account"], hostile)
    assert (caught.value.field, hostile.reads) == ("actions", 0)
    assert f"at most {len(DataAction)}" in caught.value.rule


def test_duplicates_and_unknowns_are_found_with_one_pass() -> None:
    repeated = Counted(["billing", "account", "billing"])
    with pytest.raises(InvalidInput, match="must not repeat a scope: billing"):
        load_policy().requirements("production", repeated, ["read"])
    assert repeated.reads == 3


# Lists of any length (up to 1 MiB of entries) built from known values, strangers, non-strings.
ELEMENTS = st.one_of(st.sampled_from(DEFAULT_SCOPES),
                     st.sampled_from([a.value for a in DataAction]), st.text(max_size=8),
                     st.integers(), st.none(), st.just(["nested"]))
HOSTILE = st.builds(lambda n, pattern: Counted((pattern * (n // len(pattern) + 1))[:n]),
                    st.one_of(st.integers(0, 12), st.integers(13, MiB)),
                    st.lists(ELEMENTS, min_size=1, max_size=12))


@settings(max_examples=200, deadline=None)
@given(scopes=HOSTILE, actions=HOSTILE)
def test_requirements_read_a_bounded_number_of_elements(scopes: Counted,
                                                        actions: Counted) -> None:
    policy = load_policy()
    refused: InvalidInput | None = None
    try:
        policy.requirements("production", scopes, actions)
    except InvalidInput as exc:
        refused = exc
    assert refused is None or refused.field in {"scopes", "actions"}
    assert scopes.reads <= MOST_READS and actions.reads <= MOST_READS


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scopes=HOSTILE, actions=HOSTILE)
def test_filing_a_request_reads_a_bounded_number_of_elements(
        gh: Gatehouse, people: Team, scopes: Counted, actions: Counted) -> None:
    with contextlib.suppress(GatehouseError):
        create_request.validate(gh, people.sam, draft(scopes=scopes, actions=actions))
    assert scopes.reads <= MOST_READS and actions.reads <= MOST_READS


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.builds(lambda n, pattern: Counted((pattern * (n // len(pattern) + 1))[:n]),
                         st.one_of(st.integers(0, 6), st.integers(7, MiB)),
                         st.lists(st.one_of(st.sampled_from(["contacts.email", "contacts.phone",
                                                             "contacts.job_title"]),
                                            st.text(max_size=8), st.integers()),
                                  min_size=1, max_size=6)))
def test_revealing_reads_a_bounded_number_of_columns(
        revealing: tuple[Gatehouse, Team, int], columns: Counted) -> None:
    gh, people, grant_id = revealing
    with contextlib.suppress(GatehouseError):
        broker.reveal(gh, people.sam, grant_id, "cust-0001", "contacts", columns,
                      "customer asked to confirm the details")
    assert columns.reads <= MOST_READS


@pytest.fixture
def revealing(gh: Gatehouse, idp: LocalIdP, tmp_path: Path,
              clock: FakeClock) -> tuple[Gatehouse, Team, int]:
    gh = attach_customer_data(gh, tmp_path, clock)
    people = team(gh, idp)
    request_id = create_request.create(gh, people.sam, draft(
        customer_id="cust-0001", scopes=["contacts"], actions=["read", "reveal"],
        duration=timedelta(hours=1)))
    decision = decide_request.decide(gh, people.ada, request_id, approve=True)
    assert decision.grant_id is not None
    return gh, people, decision.grant_id
