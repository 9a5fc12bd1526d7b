"""closed-loop: per-world alerts name the world that breached first; impossible floors refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxrec.commands.closed_loop import check_floors
from jaxrec.errors import ConfigError
from jaxrec.experiments.dashboard import evaluate_alerts
from jaxrec.metrics.alerts import parse_rules


def _frame():
    """Two worlds over 200 steps: world 1 jumps to 0.9 at step 84, world 0 at step 164."""
    steps = np.arange(1, 201)
    world0 = np.where(steps >= 164, 0.9, 0.1)
    world1 = np.where(steps >= 84, 0.9, 0.1)
    rows = [
        pd.DataFrame({"run": "mf", "world": w, "step": steps, "top1_share": series})
        for w, series in enumerate((world0, world1))
    ]
    return pd.concat(rows, ignore_index=True)


def test_per_world_alerts_report_the_first_world_to_breach():
    rules = parse_rules([{"metric": "top1_share", "op": ">", "threshold": 0.6}])
    (mean,) = evaluate_alerts(_frame(), rules)["mf"]
    (first,) = evaluate_alerts(_frame(), rules, per_world=True)["mf"]
    assert mean["step"] == 164 and "world" not in mean  # the mean is 0.5 until both have jumped
    assert (first["step"], first["world"]) == (84, 1)
    assert first["steps_in_breach"] == 200 - 83


def test_a_rule_no_world_breaches_reports_no_step():
    rules = parse_rules([{"metric": "top1_share", "op": ">", "threshold": 0.95}])
    (first,) = evaluate_alerts(_frame(), rules, per_world=True)["mf"]
    assert first["fired"] is False and first["step"] is None


def test_a_quality_floor_above_every_live_item_is_refused():
    from jaxrec.agents.marketplace import policy_from_dict
    from jaxrec.data import synthetic_world

    world = synthetic_world(0, n_users=8, n_items=30, n_producers=3, dim=4)
    best = float(np.asarray(world.item_quality)[np.asarray(world.item_alive)].max())
    check_floors(policy_from_dict({"version": 1, "floors": {"quality": best}}), world)
    with pytest.raises(ConfigError, match=r"^floors\.quality: .* above the quality of every"):
        check_floors(policy_from_dict({"version": 1, "floors": {"quality": best + 0.01}}), world)
