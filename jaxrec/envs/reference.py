"""A slow, loop-based NumPy implementation of :meth:`PlatformEnv.transition`, for parity tests.

Written plainly, one user and one item at a time, from the model description in the README rather
than from the vectorized code: it shares no code with :mod:`jaxrec.envs.platform`. Given the same
state, slate, random draws (:class:`~jaxrec.envs.platform.Noise`) and parameters, it must produce the
same next state, reward, cost and flags (up to float32 rounding).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _numpy_tree(tree: Any) -> dict[str, Any]:
    """A flax struct as a dict of NumPy copies (float32 kept)."""
    return {
        name: (np.array(value) if not hasattr(value, "__dataclass_fields__") else value)
        for name, value in vars(tree).items()
    }


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def reference_step(
    state: Any,
    slate: np.ndarray,
    noise: Any,
    params: Any,
    history_len: int,
    seen_window: int,
    log_steps: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One platform step. Returns ``(next_state_fields, reward, cost, terminated, truncated)``.

    ``state``, ``noise`` and ``params`` are the JAX structs (read as NumPy); the result's state is
    a dict keyed like :class:`~jaxrec.envs.platform.EnvState`'s fields.
    """
    s = _numpy_tree(state)
    z = _numpy_tree(noise)
    p = {name: np.array(value) for name, value in vars(params).items() if name != "world"}
    world = {name: np.array(value) for name, value in vars(params.world).items()}
    n_producers = params.world.n_producers
    slate = np.array(slate, dtype=np.int64)
    n_users, k = slate.shape
    n_items = s["item_alive"].shape[0]
    step = int(s["step"])
    examine = p["examination"].astype(np.float64)

    # user-independent part of the click logit, per item
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

    reward = np.zeros(n_users, np.float32)
    cost = np.zeros(n_users, np.float32)
    clicks = np.zeros((n_users, k), bool)
    shown = np.zeros((n_users, k), bool)
    item_step_exposure = np.zeros(n_items)
    item_step_impressions = np.zeros(n_items)
    item_step_clicks = np.zeros(n_items)
    head_step_exposure = 0.0
    total_step_exposure = 0.0
    user_factors = s["user_factors"].astype(np.float64).copy()
    history = s["user_history"].copy()
    recent_shown = s["user_recent_shown"].copy()

    for u in range(n_users):
        logits = []
        for pos in range(k):
            item = slate[u, pos]
            # a negative id leaves the position empty
            shown[u, pos] = item >= 0 and bool(s["item_alive"][item]) and bool(s["user_active"][u])
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
        clicked_items = []
        for pos in range(k):
            if not shown[u, pos]:
                continue
            item = slate[u, pos]
            item_step_exposure[item] += examine[pos]
            item_step_impressions[item] += 1.0
            total_step_exposure += examine[pos]
            if s["item_is_head"][item]:
                cost[u] += p["cost_head_count"] + p["cost_head_exposure"] * examine[pos]
                head_step_exposure += examine[pos]
            if clicks[u, pos]:
                reward[u] += 1.0
                item_step_clicks[item] += 1.0
                clicked_items.append(item)
        # taste drift toward the mean clicked item, keeping the taste vector's norm
        if clicked_items:
            mean_clicked = np.mean([s["item_factors"][i] for i in clicked_items], axis=0)
            old = user_factors[u].copy()
            moved = old + p["taste_drift"] * (mean_clicked - old)
            norm = np.linalg.norm(moved)
            user_factors[u] = moved * np.linalg.norm(old) / max(norm, 1e-12)
        merged = [i for i in history[u] if i >= 0] + clicked_items
        kept = merged[len(merged) - history_len :] if len(merged) > history_len else merged
        history[u] = [-1] * (history_len - len(kept)) + kept
        if seen_window:
            served = [slate[u, pos] if shown[u, pos] else -1 for pos in range(k)]
            recent_shown[u] = list(recent_shown[u][k:]) + served

    # churn and arrivals
    active = s["user_active"].copy()
    temper = s["user_temper"].astype(np.float64).copy()
    user_id = s["user_id"].copy()
    user_steps = s["user_steps"].copy()
    terminated = np.zeros(n_users, bool)
    for u in range(n_users):
        temper[u] = min(
            p["temper_max"],
            temper[u] - p["temper_step_cost"] + p["temper_click_gain"] * reward[u],
        )
        was_active = s["user_active"][u]
        terminated[u] = was_active and temper[u] < 0.0
        arrives = (not was_active) and z["user_arrival_uniform"][u] < p["user_arrival_prob"]
        active[u] = (was_active and not terminated[u]) or arrives
        if arrives:
            user_id[u] = z["user_pool_index"][u]
            user_factors[u] = world["user_factors"][user_id[u]]
            temper[u] = p["temper_init"]
        if arrives or terminated[u]:
            history[u] = -1
            recent_shown[u] = -1
            user_steps[u] = 0
        else:
            user_steps[u] += int(was_active)

    out = {name: value.copy() for name, value in s.items()}
    if log_steps:
        slot = step % log_steps
        out["log_user"][slot] = np.where(s["user_active"], s["user_id"], -1)
        out["log_items"][slot] = np.where(shown, slate, -1)
        out["log_clicks"][slot] = clicks
        out["log_valid"][slot] = True

    # items
    step_next = step + 1
    popularity = p["popularity_decay"] * s["item_popularity"] + item_step_clicks
    exposure_recent = p["exposure_decay"] * s["item_exposure_recent"] + item_step_exposure
    rho = float(p["attractiveness_rho"])
    attractiveness = (
        rho * s["item_attractiveness"]
        + p["attractiveness_std"] * math.sqrt(1.0 - rho * rho) * z["attractiveness_normal"]
    )
    age = s["item_age"] + 1.0
    alive = s["item_alive"] & (z["retire_uniform"] >= p["item_retire_prob"])

    producer_step_exposure = np.zeros(n_producers)
    producer_items = np.zeros(n_producers)
    for i in range(n_items):
        producer_step_exposure[s["item_producer"][i]] += item_step_exposure[i]
        producer_items[s["item_producer"][i]] += float(alive[i])
    window = s["producer_window_exposure"] + producer_step_exposure
    producer_exposure = s["producer_exposure"] + producer_step_exposure
    check = step_next % max(int(p["producer_window"]), 1) == 0
    producer_active = s["producer_active"].copy()
    total_items = max(producer_items.sum(), 1.0)
    superstar, best = 0, -np.inf
    for q in range(n_producers):
        value = producer_exposure[q] if s["producer_active"][q] else -1.0
        if value > best:
            superstar, best = q, value
    for q in range(n_producers):
        fair = window.sum() * producer_items[q] / total_items
        if check and s["producer_active"][q] and window[q] < p["producer_exit_threshold"] * fair:
            producer_active[q] = False
        if step_next == int(p["superstar_exit_step"]) and q == superstar:
            producer_active[q] = False
    if check:
        window = np.zeros_like(window)
    weight = np.where(producer_active, producer_items + 1.0, 0.0)
    cdf = np.cumsum(weight) / max(weight.sum(), 1e-12)
    factor_scale = np.sqrt(np.mean(world["item_factors"].astype(np.float64) ** 2, axis=0))

    item_factors = s["item_factors"].copy()
    item_quality = s["item_quality"].copy()
    item_producer = s["item_producer"].copy()
    arrival_step = s["item_arrival_step"].copy()
    first_impression = s["item_first_impression_step"].copy()
    item_exposure = s["item_exposure"] + item_step_exposure
    impressions = s["item_impressions"] + item_step_impressions
    item_clicks = s["item_clicks"] + item_step_clicks
    arrived = np.zeros(n_items, bool)
    for i in range(n_items):
        if first_impression[i] < 0 and item_step_impressions[i] > 0:
            first_impression[i] = step
        alive[i] = alive[i] and producer_active[item_producer[i]]
        if not alive[i]:
            popularity[i] = 0.0
            exposure_recent[i] = 0.0
        arrives = (not alive[i]) and z["arrival_uniform"][i] < p["item_arrival_prob"]
        arrived[i] = arrives and weight.sum() > 0
        if arrived[i]:
            producer = int(np.searchsorted(cdf, z["new_producer_uniform"][i], side="right"))
            item_producer[i] = min(producer, n_producers - 1)
            item_factors[i] = z["new_item_normal"][i] * factor_scale
            item_quality[i] = p["new_item_quality_std"] * z["new_quality_normal"][i]
            attractiveness[i] = 0.0
            age[i] = 0.0
            arrival_step[i] = step_next
            first_impression[i] = -1
            item_exposure[i] = impressions[i] = item_clicks[i] = 0.0
            alive[i] = True

    # group relabelling: top head_fraction of live items by popularity, ties to the lower index
    is_head = s["item_is_head"] & alive & ~arrived
    label_history = s["label_history"].copy()
    if step_next % max(int(p["relabel_every"]), 1) == 0:
        live = [i for i in range(n_items) if alive[i]]
        ranked = sorted(live, key=lambda i: (-popularity[i], i))
        n_head = math.ceil(float(np.float32(p["head_fraction"]) * np.float32(len(live))))
        n_keep = math.ceil(
            float(
                (np.float32(p["head_fraction"]) + np.float32(p["relabel_hysteresis"]))
                * np.float32(len(live))
            )
        )
        relabelled = np.zeros(n_items, bool)
        for rank, i in enumerate(ranked):
            relabelled[i] = rank < n_head or (s["item_is_head"][i] and rank < n_keep)
        is_head = relabelled
        label_history = np.concatenate([label_history[1:], is_head[None]], axis=0)

    out.update(
        step=np.int32(step_next),
        user_factors=user_factors.astype(np.float32),
        user_id=user_id,
        user_active=active,
        user_temper=temper.astype(np.float32),
        user_history=history,
        user_recent_shown=recent_shown,
        user_steps=user_steps,
        item_factors=item_factors,
        item_quality=item_quality,
        item_attractiveness=attractiveness.astype(np.float32),
        item_producer=item_producer,
        item_alive=alive,
        item_age=age,
        item_arrival_step=arrival_step,
        item_first_impression_step=first_impression,
        item_popularity=popularity.astype(np.float32),
        item_exposure=item_exposure.astype(np.float32),
        item_exposure_recent=exposure_recent.astype(np.float32),
        item_impressions=impressions.astype(np.float32),
        item_clicks=item_clicks.astype(np.float32),
        item_is_head=is_head,
        label_history=label_history,
        producer_active=producer_active,
        producer_exposure=producer_exposure.astype(np.float32),
        producer_window_exposure=window.astype(np.float32),
        group_exposure=s["group_exposure"]
        + np.array([head_step_exposure, total_step_exposure - head_step_exposure], np.float32),
    )
    truncated = np.where(s["user_active"], step_next >= int(p["max_steps"]), False)
    return out, reward, cost, terminated, truncated


def reference_greedy_slates(state: Any, params: Any, slate_size: int, mask_history: bool = True):
    """The relevance-greedy oracle's slates, one user at a time: i32[U, K].

    Scores every live item by its click logit and keeps the ``slate_size`` best that the user has
    not clicked recently (ties to the lower item index, as ``lax.top_k``).
    """
    s = _numpy_tree(state)
    p = {name: np.array(value) for name, value in vars(params).items() if name != "world"}
    n_items = s["item_alive"].shape[0]
    live = s["item_alive"]
    log_pop = np.log1p(s["item_popularity"].astype(np.float64))
    mean_log_pop = log_pop[live].sum() / max(int(live.sum()), 1)
    offset = (
        p["quality_weight"] * (s["item_quality"] + s["item_attractiveness"])
        + p["popularity_beta"] * (log_pop - mean_log_pop)
        - p["ageing_weight"] * (s["item_age"] / p["age_tau"]) ** p["age_shape"]
        + p["click_bias"]
    )
    slates = np.zeros((s["user_factors"].shape[0], slate_size), np.int32)
    for u in range(s["user_factors"].shape[0]):
        scores = p["relevance_weight"] * (s["item_factors"] @ s["user_factors"][u]) + offset
        allowed = live.copy()
        if mask_history:
            for item in s["user_history"][u]:
                if 0 <= item < n_items:
                    allowed[item] = False
        scores = np.where(allowed, scores, -np.inf)
        slates[u] = np.argsort(-scores, kind="stable")[:slate_size]
    return slates
