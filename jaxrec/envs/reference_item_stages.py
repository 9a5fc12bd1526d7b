"""Loop-based NumPy mirrors of the item-side stages of the platform step (stages 10-13).

One function per stage of :mod:`jaxrec.envs.platform_item_stages`, with the same name and
arguments, written one item and one producer at a time (no code shared with the JAX stages); the
conventions are those of :mod:`jaxrec.envs.reference_stages`.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from jaxrec.envs.reference_stages import numpy_params, numpy_tree


def evolve_items(
    state: Any, item_clicks: Any, item_exposure: Any, noise: Any, params: Any
) -> SimpleNamespace:
    """Popularity and recent exposure decay and add this step's; attractiveness is AR(1); ageing;
    a live item retires with the retirement probability."""
    s, z, p = numpy_tree(state), numpy_tree(noise), numpy_params(params)
    rho = float(p["attractiveness_rho"])
    return SimpleNamespace(
        item_popularity=p["popularity_decay"] * s["item_popularity"] + np.asarray(item_clicks),
        item_exposure_recent=p["exposure_decay"] * s["item_exposure_recent"]
        + np.asarray(item_exposure),
        item_attractiveness=rho * s["item_attractiveness"]
        + p["attractiveness_std"] * math.sqrt(1.0 - rho * rho) * z["attractiveness_normal"],
        item_age=s["item_age"] + 1.0,
        item_alive=s["item_alive"] & (z["retire_uniform"] >= p["item_retire_prob"]),
    )


def producer_exits(
    state: Any, producer_step_exposure: Any, alive: Any, step_next: Any, params: Any
) -> tuple[SimpleNamespace, np.ndarray]:
    """At a window's end producers under the exit threshold x fair share leave; at the superstar
    step the most exposed active producer leaves. Also returns live items per producer."""
    s, p = numpy_tree(state), numpy_params(params)
    step_next = int(step_next)
    n_producers = s["producer_active"].shape[0]
    producer_items = np.zeros(n_producers)
    for i, live in enumerate(np.asarray(alive)):
        producer_items[s["item_producer"][i]] += float(live)
    window = s["producer_window_exposure"] + np.asarray(producer_step_exposure, np.float64)
    exposure = s["producer_exposure"] + np.asarray(producer_step_exposure, np.float64)
    check = step_next % max(int(p["producer_window"]), 1) == 0
    active = s["producer_active"].copy()
    total_items = max(producer_items.sum(), 1.0)
    superstar, best = 0, -np.inf
    for q in range(n_producers):
        value = exposure[q] if s["producer_active"][q] else -1.0
        if value > best:
            superstar, best = q, value
    for q in range(n_producers):
        fair = window.sum() * producer_items[q] / total_items
        if check and s["producer_active"][q] and window[q] < p["producer_exit_threshold"] * fair:
            active[q] = False
        if step_next == int(p["superstar_exit_step"]) and q == superstar:
            active[q] = False
    out = SimpleNamespace(
        producer_active=active,
        producer_exposure=exposure,
        producer_window_exposure=np.zeros_like(window) if check else window,
    )
    return out, producer_items


def item_arrivals(
    state: Any,
    drift: Any,
    tally: Any,
    producer_active: Any,
    producer_items: Any,
    step_next: Any,
    noise: Any,
    params: Any,
) -> tuple[SimpleNamespace, np.ndarray]:
    """Items of departed producers die; an empty slot gets a new item with the arrival probability
    from a producer drawn by live items + 1; a new item's counters restart."""
    s, z, p = numpy_tree(state), numpy_tree(noise), numpy_params(params)
    producer_active = np.asarray(producer_active)
    n_items, n_producers = s["item_alive"].shape[0], producer_active.shape[0]
    weight = np.where(producer_active, np.asarray(producer_items, np.float64) + 1.0, 0.0)
    cdf = np.cumsum(weight) / max(weight.sum(), 1e-12)
    world_factors = np.asarray(params.world.item_factors, np.float64)
    factor_scale = np.sqrt(np.mean(world_factors**2, axis=0))
    out = SimpleNamespace(
        item_factors=s["item_factors"].copy(),
        item_quality=s["item_quality"].copy(),
        item_attractiveness=np.array(drift.item_attractiveness, np.float64),
        item_producer=s["item_producer"].copy(),
        item_alive=np.array(drift.item_alive),
        item_age=np.array(drift.item_age, np.float64),
        item_arrival_step=s["item_arrival_step"].copy(),
        item_first_impression_step=np.array(tally.item_first_impression_step),
        item_popularity=np.array(drift.item_popularity, np.float64),
        item_exposure=s["item_exposure"] + np.asarray(tally.item_exposure, np.float64),
        item_exposure_recent=np.array(drift.item_exposure_recent, np.float64),
        item_impressions=s["item_impressions"] + np.asarray(tally.item_impressions, np.float64),
        item_clicks=s["item_clicks"] + np.asarray(tally.item_clicks, np.float64),
    )
    arrived = np.zeros(n_items, bool)
    for i in range(n_items):
        alive = bool(out.item_alive[i]) and bool(producer_active[out.item_producer[i]])
        out.item_alive[i] = alive
        if not alive:
            out.item_popularity[i] = out.item_exposure_recent[i] = 0.0
        arrived[i] = not alive and z["arrival_uniform"][i] < p["item_arrival_prob"]
        arrived[i] = arrived[i] and weight.sum() > 0
        if arrived[i]:
            producer = int(np.searchsorted(cdf, z["new_producer_uniform"][i], side="right"))
            out.item_producer[i] = min(producer, n_producers - 1)
            out.item_factors[i] = z["new_item_normal"][i] * factor_scale
            out.item_quality[i] = p["new_item_quality_std"] * z["new_quality_normal"][i]
            out.item_attractiveness[i] = out.item_age[i] = 0.0
            out.item_arrival_step[i] = int(step_next)
            out.item_first_impression_step[i] = -1
            out.item_exposure[i] = out.item_impressions[i] = out.item_clicks[i] = 0.0
            out.item_alive[i] = True
    return out, arrived


def relabel(
    state: Any, popularity: Any, alive: Any, arrived: Any, step_next: Any, params: Any
) -> SimpleNamespace:
    """On a relabel step the top head_fraction of live items by popularity (ties to the lower
    index; a head item stays within the top head_fraction + hysteresis) become the head and the
    labels are recorded; otherwise live items keep their label and new items start in the tail."""
    s, p = numpy_tree(state), numpy_params(params)
    popularity, alive, arrived = np.asarray(popularity), np.asarray(alive), np.asarray(arrived)
    out = SimpleNamespace(
        item_is_head=s["item_is_head"] & alive & ~arrived, label_history=s["label_history"]
    )
    if int(step_next) % max(int(p["relabel_every"]), 1) == 0:
        live = [i for i in range(alive.shape[0]) if alive[i]]
        ranked = sorted(live, key=lambda i: (-popularity[i], i))
        head_fraction = np.float32(p["head_fraction"])
        n_head = math.ceil(float(head_fraction * np.float32(len(live))))
        n_keep = math.ceil(
            float((head_fraction + np.float32(p["relabel_hysteresis"])) * np.float32(len(live)))
        )
        out.item_is_head = np.zeros(alive.shape[0], bool)
        for rank, i in enumerate(ranked):
            out.item_is_head[i] = rank < n_head or (s["item_is_head"][i] and rank < n_keep)
        out.label_history = np.concatenate([out.label_history[1:], out.item_is_head[None]])
    return out
