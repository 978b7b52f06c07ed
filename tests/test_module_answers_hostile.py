"""A store answering the module's routes with something that is not the module's answer:
refused as such (``ModuleAnswerError``: the push then moves those customers one GET and
PUT each), and never echoed whole or with control characters into a line or the log."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.magento import module as m
from bridge.push.bulk import describe


class Answers:
    """A client whose every call answers ``answer``."""

    _accepted = True

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def _write(self, *_a: Any, **_k: Any) -> Any:
        return self.answer

    def _get(self, *_a: Any, **_k: Any) -> Any:
        return self.answer


SENT = [m.Assignment(1, 1, 4), m.Assignment(2, 1, 4)]
OK2 = {"customer_id": 2, "status": "applied", "group_id": 4}


@pytest.mark.parametrize("first", [
    {"customer_id": True, "status": "applied", "group_id": 4},  # True == 1 in Python
    {"customer_id": 1.0, "status": "applied", "group_id": 4},
    {"customer_id": "1", "status": "applied", "group_id": 4},
    {"customer_id": 2, "status": "applied", "group_id": 4},  # one listed twice
    {"customer_id": 1, "status": "changed_meanwhile"},  # with no group
    {"customer_id": 1, "status": "applied", "group_id": True},
    {"customer_id": 1, "status": "done", "group_id": 4},
])
def test_a_result_that_is_not_the_module_s_is_refused(first: dict[str, Any]) -> None:
    with pytest.raises(m.ModuleAnswerError):
        m.assign_groups(Answers({"results": [first, OK2]}), SENT)


def test_a_huge_result_is_cut_short_in_the_error() -> None:
    hostile = {"customer_id": 1, "status": "x" * 70_000 + "\n\x1b[2J"}
    with pytest.raises(m.ModuleAnswerError) as err:
        m.assign_groups(Answers({"results": [hostile, OK2]}), SENT)
    assert len(str(err.value)) < 400
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


INFO = {"module": "Segbridge_SegmentBlock", "version": "0.2.0",
        "features": ["group_assignments"], "max_group_assignments": 1000,
        "product_views_recorded": True}


@pytest.mark.parametrize("change", [
    {"features": ["group_assignments", "\x1b[31mforged\nok   line"]},
    {"features": ["a" * 100_000]},
    {"version": "١.٢.٣"},  # digits, but not ASCII ones
    {"version": "1.2.3\n"},
    {"max_group_assignments": "1000"},
    {"max_group_assignments": 0},
    {"max_group_assignments": -5},
    {"max_group_assignments": True},
    {"module": "Other_Module"},
])
def test_an_info_answer_that_is_not_the_module_s_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(m.ModuleAnswerError) as err:
        m.module_info(Answers({**INFO, **change}))
    assert len(str(err.value)) < 400 and "\n" not in str(err.value)


def test_a_huge_limit_is_the_module_s_own_1000() -> None:
    info = m.module_info(Answers({**INFO, "max_group_assignments": 10**30}))
    assert info is not None and describe(info) == (
        "Segbridge_SegmentBlock 0.2.0 (parts on: group_assignments)")
    from bridge.push.bulk import choose_module

    class Cfg:
        use = "auto"
        group_assignments = True

    assert choose_module(Answers({**INFO, "max_group_assignments": 10**30}), Cfg()
                         ).chunk_size == 1000
