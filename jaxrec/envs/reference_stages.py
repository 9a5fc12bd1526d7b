"""Loop-based NumPy mirrors of the serving and user stages of the platform step (stages 1-9).

One function per stage of :mod:`jaxrec.envs.platform_stages`, with the same name and arguments,
written one user and one position at a time from the README's model description (no code shared
with the JAX stages). Inputs may be JAX or NumPy arrays (``state``, ``noise`` and ``params`` are
the JAX structs, read as NumPy); a stage that returns named pieces returns a namespace with the JAX
stage's field names. :func:`jaxrec.envs.reference.reference_step` composes them.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np


def numpy_tree(tree: Any) -> dict[str, Any]:
    """A flax struct as a dict of NumPy copies (float32 kept)."""
    return {
        name: (np.array(value) if not hasattr(value, "__dataclass_fields__") else value)
        for name, value in vars(tree).items()
    }


def numpy_params(params: Any) -> dict[str, np.ndarray]:
    """The parameters except the world, as NumPy values."""
    return {name: np.array(value) for name, value in vars(params).items() if name != "world"}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def item_logit_offset(state: Any, params: Any) -> np.ndarray:
    """The user-independent part of each item's click logit (popularity centred on live items)."""
    s, p = numpy_tree(state), numpy_params(params)
    n_items = s["item_alive"].shape[0]
    alive_count = max(int(s["item_alive"].sum()), 1)
    mean_log_pop = (
        sum(math.log1p(s["item_popularity"][i]) for i in range(n_items) if s["item_alive"][i])
        / alive_count
    )
    offset = np.zeros(n_items)
    for i in range(n_items):
        offset[i] = (
            p["quality_weight"] * (s["item_quality"][i] + s["item_attractiveness"][i])
            + p["popularity_beta"] * (math.log1p(s["item_popularity"][i]) - mean_log_pop)
            - p["ageing_weight"] * (s["item_age"][i] / p["age_tau"]) ** p["age_shape"]
            + p["click_bias"]
        )
    return offset


def shown_items(slate: Any, item_alive: Any, user_active: Any) -> np.ndarray:
    """A position is shown when it holds a live item (a negative id is empty) for an active user."""
    slate, alive, active = np.asarray(slate), np.asarray(item_alive), np.asarray(user_active)
    shown = np.zeros(slate.shape, bool)
    for u, pos in np.ndindex(*slate.shape):
        item = slate[u, pos]
        shown[u, pos] = item >= 0 and bool(alive[item]) and bool(active[u])
    return shown


def choose_clicks(state: Any, slate: Any, shown: Any, noise: Any, params: Any) -> np.ndarray:
    """Independent clicks (examination x sigmoid) or one multinomial-logit choice per user."""
    s, z, p = numpy_tree(state), numpy_tree(noise), numpy_params(params)
    slate, shown = np.asarray(slate), np.asarray(shown)
    n_users, k = slate.shape
    examine = p["examination"].astype(np.float64)
    offset = item_logit_offset(state, params)
    clicks = np.zeros((n_users, k), bool)
    for u in range(n_users):
        logits = []
        for pos in range(k):
            item = slate[u, pos]
            relevance = float(np.dot(s["user_factors"][u], s["item_factors"][item]))
            logits.append(p["relevance_weight"] * relevance + offset[item])
        if int(p["choice_model"]) == 1:
            best, best_value = k, float(p["no_click_utility"]) + z["choice_gumbel"][u, k]
            for pos in range(k):
                if shown[u, pos]:
                    value = logits[pos] + math.log(examine[pos]) + z["choice_gumbel"][u, pos]
                    if value > best_value:
                        best, best_value = pos, value
            if best < k:
                clicks[u, best] = True
        else:
            for pos in range(k):
                prob = examine[pos] * _sigmoid(logits[pos])
                clicks[u, pos] = shown[u, pos] and z["click_uniform"][u, pos] < prob
    return clicks


def score_slates(
    slate: Any, shown: Any, clicks: Any, item_is_head: Any, params: Any
) -> SimpleNamespace:
    """Reward: clicks; cost counts shown head items and their examination; exposure per slot."""
    p = numpy_params(params)
    slate, shown, clicks = np.asarray(slate), np.asarray(shown), np.asarray(clicks)
    head = np.asarray(item_is_head)
    examine = p["examination"].astype(np.float64)
    n_users, k = slate.shape
    out = SimpleNamespace(
        reward=np.zeros(n_users),
        cost=np.zeros(n_users),
        exposure=np.zeros((n_users, k)),
        head_in_slate=np.zeros((n_users, k), bool),
    )
    for u, pos in np.ndindex(n_users, k):
        if not shown[u, pos]:
            continue
        out.exposure[u, pos] = examine[pos]
        out.reward[u] += float(clicks[u, pos])
        if head[slate[u, pos]]:
            out.head_in_slate[u, pos] = True
            out.cost[u] += p["cost_head_count"] + p["cost_head_exposure"] * examine[pos]
    return out


def tally_exposure(
    state: Any, slate: Any, shown: Any, clicks: Any, exposure: Any
) -> SimpleNamespace:
    """Per item, producer and group sums of the shown positions; first impressions recorded."""
    s = numpy_tree(state)
    slate, shown, clicks = np.asarray(slate), np.asarray(shown), np.asarray(clicks)
    exposure = np.asarray(exposure, np.float64)
    n_items, n_producers = s["item_alive"].shape[0], s["producer_active"].shape[0]
    out = SimpleNamespace(
        item_exposure=np.zeros(n_items),
        item_impressions=np.zeros(n_items),
        item_clicks=np.zeros(n_items),
        producer_exposure=np.zeros(n_producers),
        group_exposure=s["group_exposure"].astype(np.float64),
        item_first_impression_step=s["item_first_impression_step"].copy(),
    )
    for u, pos in np.ndindex(*slate.shape):
        if not shown[u, pos]:
            continue
        item = slate[u, pos]
        out.item_exposure[item] += exposure[u, pos]
        out.item_impressions[item] += 1.0
        out.item_clicks[item] += float(clicks[u, pos])
        out.producer_exposure[s["item_producer"][item]] += exposure[u, pos]
        out.group_exposure[0 if s["item_is_head"][item] else 1] += exposure[u, pos]
        if out.item_first_impression_step[item] < 0:
            out.item_first_impression_step[item] = int(s["step"])
    return out


def drift_tastes(
    user_factors: Any, item_factors: Any, slate: Any, clicks: Any, taste_drift: Any
) -> np.ndarray:
    """A user with clicks moves toward the mean clicked item, keeping the taste vector's norm."""
    factors = np.array(user_factors, np.float64)
    items, slate, clicks = np.asarray(item_factors), np.asarray(slate), np.asarray(clicks)
    for u in range(factors.shape[0]):
        clicked = [items[slate[u, pos]] for pos in range(slate.shape[1]) if clicks[u, pos]]
        if clicked:
            old = factors[u].copy()
            moved = old + float(taste_drift) * (np.mean(clicked, axis=0) - old)
            factors[u] = moved * np.linalg.norm(old) / max(np.linalg.norm(moved), 1e-12)
    return factors


def remember(
    history: Any, recent_shown: Any, slate: Any, shown: Any, clicks: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Clicks join the history (newest H kept); the window keeps the last R / K served slates."""
    history, recent = np.array(history), np.array(recent_shown)
    slate, shown, clicks = np.asarray(slate), np.asarray(shown), np.asarray(clicks)
    history_len, k = history.shape[1], slate.shape[1]
    for u in range(history.shape[0]):
        clicked = [slate[u, pos] for pos in range(k) if clicks[u, pos]]
        merged = [i for i in history[u] if i >= 0] + clicked
        kept = merged[len(merged) - history_len :] if len(merged) > history_len else merged
        history[u] = [-1] * (history_len - len(kept)) + kept
        if recent.shape[1]:
            served = [slate[u, pos] if shown[u, pos] else -1 for pos in range(k)]
            recent[u] = list(recent[u][k:]) + served
    return history, recent


def lose_patience(
    user_temper: Any, user_active: Any, n_clicks: Any, params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Patience pays a step cost, gains per click, is capped; an active user below zero churns."""
    p = numpy_params(params)
    temper = np.array(user_temper, np.float64)
    active, n_clicks = np.asarray(user_active), np.asarray(n_clicks)
    terminated = np.zeros(temper.shape, bool)
    for u in range(temper.shape[0]):
        temper[u] = min(
            p["temper_max"],
            temper[u] - p["temper_step_cost"] + p["temper_click_gain"] * n_clicks[u],
        )
        terminated[u] = bool(active[u]) and temper[u] < 0.0
    return temper, terminated


def turn_over_users(
    state: Any,
    user_factors: Any,
    history: Any,
    recent_shown: Any,
    temper: Any,
    terminated: Any,
    noise: Any,
    params: Any,
) -> SimpleNamespace:
    """Churned users leave; an empty slot takes a pool user with the arrival probability."""
    s, z, p = numpy_tree(state), numpy_tree(noise), numpy_params(params)
    pool_factors = np.asarray(params.world.user_factors)
    out = SimpleNamespace(
        user_factors=np.array(user_factors, np.float64),
        user_id=s["user_id"].copy(),
        user_active=s["user_active"].copy(),
        user_temper=np.array(temper, np.float64),
        user_history=np.array(history),
        user_recent_shown=np.array(recent_shown),
        user_steps=s["user_steps"].copy(),
    )
    terminated = np.asarray(terminated)
    for u in range(out.user_id.shape[0]):
        was_active = bool(s["user_active"][u])
        arrives = not was_active and z["user_arrival_uniform"][u] < p["user_arrival_prob"]
        out.user_active[u] = (was_active and not terminated[u]) or arrives
        if arrives:
            out.user_id[u] = z["user_pool_index"][u]
            out.user_factors[u] = pool_factors[out.user_id[u]]
            out.user_temper[u] = p["temper_init"]
        if arrives or terminated[u]:
            out.user_history[u] = -1
            out.user_recent_shown[u] = -1
            out.user_steps[u] = 0
        else:
            out.user_steps[u] += int(was_active)
    return out


def write_log(state: Any, slate: Any, shown: Any, clicks: Any) -> SimpleNamespace:
    """The served users, shown items and clicks go to ring-buffer slot ``step % L``."""
    s = numpy_tree(state)
    out = SimpleNamespace(
        **{name: s[name] for name in ("log_user", "log_items", "log_clicks", "log_valid")}
    )
    log_steps = out.log_valid.shape[0]
    if log_steps:
        slot = int(s["step"]) % log_steps
        out.log_user[slot] = np.where(s["user_active"], s["user_id"], -1)
        out.log_items[slot] = np.where(np.asarray(shown), np.asarray(slate), -1)
        out.log_clicks[slot] = np.asarray(clicks)
        out.log_valid[slot] = True
    return out
