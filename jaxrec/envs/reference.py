"""A slow, loop-based NumPy implementation of :meth:`PlatformEnv.transition`, for parity tests.

Written plainly, one user and one item at a time, from the model description in the README rather
than from the vectorized code: it shares no code with :mod:`jaxrec.envs.platform` or its stages.
The step is mirrored stage by stage, under the same names and with the same arguments as the JAX
stages: :mod:`jaxrec.envs.reference_stages` mirrors :mod:`jaxrec.envs.platform_stages` (serving
and users), :mod:`jaxrec.envs.reference_item_stages` mirrors :mod:`jaxrec.envs.platform_item_stages`
(items, producers, labels), and :func:`reference_step` composes them as
:meth:`PlatformEnv.transition` does. Given the same state, slate, random draws
(:class:`~jaxrec.envs.platform.Noise`) and parameters, the result must match (up to float32
rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrec.envs.reference_item_stages import evolve_items, item_arrivals, producer_exits, relabel
from jaxrec.envs.reference_stages import (
    choose_clicks,
    drift_tastes,
    item_logit_offset,
    lose_patience,
    numpy_params,
    numpy_tree,
    remember,
    score_slates,
    shown_items,
    tally_exposure,
    turn_over_users,
    write_log,
)


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
    a dict keyed like :class:`~jaxrec.envs.platform.EnvState`'s fields. The shapes of the state's
    history, window and log must agree with ``history_len``, ``seen_window`` and ``log_steps``.
    """
    s = numpy_tree(state)
    slate = np.array(slate, dtype=np.int64)
    if (s["user_history"].shape[1], s["user_recent_shown"].shape[1], s["log_valid"].shape[0]) != (
        history_len,
        seen_window * slate.shape[1],
        log_steps,
    ):
        raise ValueError("history_len, seen_window or log_steps disagree with the state's shapes")
    step_next = int(s["step"]) + 1
    shown = shown_items(slate, s["item_alive"], s["user_active"])
    clicks = choose_clicks(state, slate, shown, noise, params)
    score = score_slates(slate, shown, clicks, s["item_is_head"], params)
    tally = tally_exposure(state, slate, shown, clicks, score.exposure)
    user_factors = drift_tastes(
        s["user_factors"], s["item_factors"], slate, clicks, params.taste_drift
    )
    history, recent_shown = remember(
        s["user_history"], s["user_recent_shown"], slate, shown, clicks
    )
    temper, terminated = lose_patience(s["user_temper"], s["user_active"], score.reward, params)
    users = turn_over_users(
        state, user_factors, history, recent_shown, temper, terminated, noise, params
    )
    log = write_log(state, slate, shown, clicks)
    drift = evolve_items(state, tally.item_clicks, tally.item_exposure, noise, params)
    producers, producer_items = producer_exits(
        state, tally.producer_exposure, drift.item_alive, step_next, params
    )
    items, arrived = item_arrivals(
        state, drift, tally, producers.producer_active, producer_items, step_next, noise, params
    )
    labels = relabel(state, items.item_popularity, items.item_alive, arrived, step_next, params)
    out = {
        **vars(users),
        **vars(log),
        **vars(items),
        **vars(producers),
        **vars(labels),
        "step": np.int32(step_next),
        "group_exposure": tally.group_exposure,
    }
    out = {name: value.astype(s[name].dtype) for name, value in out.items()}
    truncated = np.where(s["user_active"], step_next >= int(params.max_steps), False)
    reward, cost = score.reward.astype(np.float32), score.cost.astype(np.float32)
    return out, reward, cost, terminated, truncated


def reference_greedy_slates(state: Any, params: Any, slate_size: int, mask_history: bool = True):
    """The relevance-greedy oracle's slates, one user at a time: i32[U, K].

    Scores every live item by its click logit and keeps the ``slate_size`` best that the user has
    not clicked recently (ties to the lower item index, as ``lax.top_k``).
    """
    s, p = numpy_tree(state), numpy_params(params)
    n_items = s["item_alive"].shape[0]
    live = s["item_alive"]
    offset = item_logit_offset(state, params)
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
