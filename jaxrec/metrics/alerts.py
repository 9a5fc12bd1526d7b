"""Threshold alert rules on metric series, reporting the step at which each rule fired.

A rule is ``{"metric": name, "op": one of > >= < <=, "threshold": number}`` with an optional
``"name"``, ``"for_steps"`` (the condition must hold on that many consecutive steps; default 1) and
``"warmup"`` (steps at the start that the rule ignores, default 0: a simulated platform starts
from a history, e.g. items' exposure, so early values say more about the start than the policy).
A rule fires at the first step after the warm-up where its condition has held for ``for_steps``
consecutive steps; the report also counts the steps after the warm-up on which the condition held. Rules live in the ``[[alerts]]``
tables of a marketplace policy file (:mod:`jaxrec.agents.marketplace`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrec.errors import ConfigError

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def parse_rules(raw: Sequence[Mapping[str, Any]], known_metrics: Sequence[str] | None = None):
    """Validate alert rules; errors name the field as ``alerts[i].<field>``.

    Returns a list of dicts with keys ``name``, ``metric``, ``op``, ``threshold``, ``for_steps``.
    ``known_metrics`` (default: :data:`jaxrec.metrics.health.HEALTH_METRICS`) lists the metric
    names a rule may watch.
    """
    if known_metrics is None:
        from jaxrec.metrics.health import HEALTH_METRICS

        known_metrics = HEALTH_METRICS
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("alerts", "expected an array of tables ([[alerts]])")
    rules = []
    for i, rule in enumerate(raw):
        where = f"alerts[{i}]"
        if not isinstance(rule, Mapping):
            raise ConfigError(where, "expected a table")
        unknown = set(rule) - {"name", "metric", "op", "threshold", "for_steps", "warmup"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown field")
        metric = rule.get("metric")
        if metric not in known_metrics:
            raise ConfigError(
                f"{where}.metric",
                f"unknown metric {metric!r}; expected one of {list(known_metrics)}",
            )
        op = rule.get("op")
        if op not in OPERATORS:
            raise ConfigError(f"{where}.op", f"expected one of {list(OPERATORS)}, got {op!r}")
        threshold = rule.get("threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
        ):
            raise ConfigError(f"{where}.threshold", f"expected a finite number, got {threshold!r}")
        for_steps = rule.get("for_steps", 1)
        if isinstance(for_steps, bool) or not isinstance(for_steps, int) or for_steps < 1:
            raise ConfigError(f"{where}.for_steps", f"expected an integer >= 1, got {for_steps!r}")
        warmup = rule.get("warmup", 0)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"{where}.warmup", f"expected an integer >= 0, got {warmup!r}")
        name = rule.get("name", f"{metric} {op} {threshold}")
        if not isinstance(name, str):
            raise ConfigError(f"{where}.name", f"expected a string, got {name!r}")
        rules.append(
            {
                "name": name,
                "metric": metric,
                "op": op,
                "threshold": float(threshold),
                "for_steps": for_steps,
                "warmup": warmup,
            }
        )
    return rules


def first_crossing(series: np.ndarray, op: str, threshold: float, for_steps: int = 1) -> int:
    """Index of the first entry that ends a run of ``for_steps`` entries meeting the condition.

    ``series`` f[T]; returns -1 when the rule never fires. NaN never meets a condition.
    """
    holds = OPERATORS[op](np.asarray(series, np.float64), threshold)
    if holds.size < for_steps:  # a series shorter than the run the rule needs (e.g. all warm-up)
        return -1
    # number of holds in each window of for_steps entries; a full window ends a run
    window = np.convolve(holds.astype(np.int64), np.ones(for_steps, np.int64), mode="valid")
    hits = np.flatnonzero(window == for_steps)
    return int(hits[0]) + for_steps - 1 if hits.size else -1


def evaluate_rules(
    rules: Sequence[Mapping[str, Any]], series: Mapping[str, np.ndarray], steps: np.ndarray
) -> list[dict[str, Any]]:
    """Evaluate each rule on ``series[metric]`` f[T] whose entries belong to ``steps`` i[T].

    Returns one record per rule: the rule's fields plus ``fired`` (bool), ``step`` (the step at
    which it fired, or None), ``value`` (the metric there) and ``steps_in_breach``. Entries at steps
    ``<= warmup`` are ignored.
    """
    all_steps = np.asarray(steps)
    report = []
    for rule in rules:
        kept = all_steps > rule.get("warmup", 0)
        steps = all_steps[kept]
        values = np.asarray(series[rule["metric"]], np.float64)[kept]
        index = first_crossing(values, rule["op"], rule["threshold"], rule["for_steps"])
        breach = OPERATORS[rule["op"]](values, rule["threshold"])
        report.append(
            {
                **rule,
                "fired": index >= 0,
                "step": int(steps[index]) if index >= 0 else None,
                "value": float(values[index]) if index >= 0 else None,
                "steps_in_breach": int(breach.sum()),
            }
        )
    return report
