"""A bench row's `met` follows from its measurements; the critical path follows its model."""

from __future__ import annotations

import math

from bench.common import Row, Target
from bench.critical_path import critical_path_seconds


def test_met_is_computed_from_the_medians_and_validity() -> None:
    faster = Row("1a x", "s", [10.0, 12.0, 30.0], [40.0, 40.0, 40.0], Target("ratio", "<=", 0.5))
    slower = Row("1b x", "s", [10.0, 25.0, 30.0], [40.0, 40.0, 40.0], Target("ratio", "<=", 0.5))
    invalid = Row("2 x", "ms", [1.0], None, Target("value", "<", 50), valid=False)

    assert faster.ratio == 0.3 and faster.met
    assert math.isclose(slower.ratio or 0, 0.625) and not slower.met
    assert not invalid.met
    assert faster.as_json()["value_min"] == 10.0 and faster.as_json()["value_max"] == 30.0
    assert not Row.failed("3 broke").met


def test_a_speed_up_row_reads_its_own_ratios() -> None:
    row = Row("9 x", "ms/run", [20.0], [30.0], Target("ratio", ">=", 1.0), ratios=[1.5])

    assert row.met and row.as_json()["target"] == ">= 1x"


def test_critical_path_takes_the_longest_repository_and_the_longest_closing_chain() -> None:
    calls = {
        "fetch:version": 1,
        "fetch:search": 1,
        "repo:a:info": 1,
        "repo:a:merge:x": 1,
        "repo:a:pr": 2,
        "repo:a:checks": 2,
        "repo:b:info": 1,
        "repo:b:merge:x": 1,
        "repo:b:merge:y": 1,
        "repo:b:merge:z": 1,
        "repo:b:pr": 2,
        "repo:b:checks": 2,
        "notes": 3,
        "final:a:merge": 2,
        "final:a:release": 2,
        "ticket:T-1:status": 3,
        "ticket:T-1:comment": 2,
        "ticket:T-1:link": 2,
        "version": 2,
    }

    # fetch 2 + repo b (6 calls + max(CI 1 s, 2 calls)) + notes 3 + ticket 7 + version 2
    assert math.isclose(critical_path_seconds(calls, 0.1, 1.0), 0.2 + 1.6 + 0.3 + 0.7 + 0.2)
    # with no CI wait, the pull request's two calls count instead
    assert math.isclose(critical_path_seconds(calls, 0.1, 0.0), 0.2 + 0.8 + 0.3 + 0.7 + 0.2)
