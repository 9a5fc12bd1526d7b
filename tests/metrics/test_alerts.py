"""Alert rules fire exactly where a hand-built series crosses its threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.errors import ConfigError
from jaxrec.metrics.alerts import evaluate_rules, first_crossing, parse_rules


def test_fires_at_the_first_crossing_step():
    series = np.array([0.1, 0.2, 0.29, 0.31, 0.2, 0.5])
    steps = np.arange(1, 7) * 10
    rules = parse_rules(
        [
            {"metric": "top1_share", "op": ">", "threshold": 0.3},
            {"metric": "top1_share", "op": ">=", "threshold": 0.2, "name": "ge"},
            {"metric": "top1_share", "op": "<", "threshold": 0.1},
            {"metric": "top1_share", "op": "<=", "threshold": 0.1},
            {"metric": "top1_share", "op": ">", "threshold": 0.15, "for_steps": 3},
            {"metric": "top1_share", "op": ">", "threshold": 0.9},
        ]
    )
    report = evaluate_rules(rules, {"top1_share": series}, steps)
    assert [r["step"] for r in report] == [40, 20, None, 10, 40, None]
    assert [r["fired"] for r in report] == [True, True, False, True, True, False]
    assert report[0]["value"] == pytest.approx(0.31)
    assert report[0]["steps_in_breach"] == 2
    assert report[1]["name"] == "ge"
    assert report[0]["name"] == "top1_share > 0.3"


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40),
    threshold=st.floats(-5, 5),
    op=st.sampled_from([">", ">=", "<", "<="]),
    for_steps=st.integers(1, 5),
)
def test_first_crossing_matches_a_plain_loop(values, threshold, op, for_steps):
    compare = {
        ">": lambda a: a > threshold,
        ">=": lambda a: a >= threshold,
        "<": lambda a: a < threshold,
        "<=": lambda a: a <= threshold,
    }[op]
    expected, run = -1, 0
    for t, value in enumerate(values):
        run = run + 1 if compare(value) else 0
        if run >= for_steps:
            expected = t
            break
    assert first_crossing(np.array(values), op, threshold, for_steps) == expected


def test_nan_never_fires():
    assert first_crossing(np.array([np.nan, np.nan]), ">", 0.0) == -1


@pytest.mark.parametrize(
    "rule, field",
    [
        ({"metric": "nope", "op": ">", "threshold": 1}, "alerts[0].metric"),
        ({"metric": "top1_share", "op": "!=", "threshold": 1}, "alerts[0].op"),
        ({"metric": "top1_share", "op": ">", "threshold": "high"}, "alerts[0].threshold"),
        ({"metric": "top1_share", "op": ">", "threshold": 1, "for_steps": 0}, "alerts[0].for_steps"),
        ({"metric": "top1_share", "op": ">", "threshold": 1, "colour": "red"}, "alerts[0].colour"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_field(rule, field):
    with pytest.raises(ConfigError) as err:
        parse_rules([rule])
    assert err.value.field == field


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30),
    warmup=st.integers(0, 35),
    for_steps=st.integers(1, 4),
)
def test_warmup_ignores_the_steps_before_it(values, warmup, for_steps):
    steps = np.arange(1, len(values) + 1)
    fields = {"metric": "top1_share", "op": ">", "threshold": 0.5}
    (rule,) = parse_rules([{**fields, "for_steps": for_steps, "warmup": warmup}])
    (report,) = evaluate_rules([rule], {"top1_share": np.array(values)}, steps)
    after = np.array(values)[steps > warmup]  # reference: the rule on the series after warm-up
    index = first_crossing(after, ">", 0.5, for_steps)
    assert report["step"] == (None if index < 0 else warmup + index + 1)
    assert report["steps_in_breach"] == int((after > 0.5).sum())


def test_warmup_must_be_a_non_negative_integer():
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match=r"alerts\[0\]\.warmup"):
            parse_rules([{"metric": "top1_share", "op": ">", "threshold": 0.1, "warmup": bad}])
