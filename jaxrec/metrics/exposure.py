"""Exposure concentration and exposure fairness.

Every function takes non-negative exposure (or interaction) counts ``x`` per item, producer or
group and reduces along ``axis`` (default the last), so a batch of worlds or a time series of
snapshots is handled by the leading axes, or by ``vmap``. All are pure ``jnp`` and trace under
``jit``; only :func:`lorenz_curve`, meant for plots, returns NumPy arrays.

Convention for an all-zero vector (e.g. exposure before the first step): it counts as perfectly
equal, so ``gini = 0``, ``hhi = 1/n``, normalised entropy ``= 1`` and ``top_share = k/n``. No
function returns NaN, so streamed metrics stay finite. The expected exposure of stochastic rankings
(EE-L) is in :mod:`jaxrec.metrics.stochastic_exposure`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError
from jaxrec.metrics._safe import divide_or

POSITION_WEIGHT_KINDS = ("log", "rbp", "cascade")


def position_weights(k: int, kind: str = "log", gamma: float | jax.Array = 0.8) -> jax.Array:
    """Attention a user pays to each of the top ``k`` positions (rank r = 1..k).

    - ``"log"``: the DCG discount ``1 / log2(1 + r)`` (Järvelin & Kekäläinen 2002).
    - ``"rbp"``: rank-biased precision ``(1 - gamma) gamma^(r - 1)`` (Moffat & Zobel 2008); the user
      moves on from each position with persistence ``gamma``; weights over infinite depth sum to 1.
    - ``"cascade"``: examination probability ``gamma^(r - 1)`` of a cascade browser who always
      examines rank 1 and continues past each examined item with probability ``gamma``, regardless of
      relevance (Craswell et al. 2008 with a constant continuation). It is ``rbp / (1 - gamma)``:
      expected examinations rather than a normalised distribution.

    Args:
      k: number of positions (static).
      kind: one of ``"log"``, ``"rbp"``, ``"cascade"``.
      gamma: persistence in [0, 1) for ``"rbp"`` and ``"cascade"``; may be a traced scalar.

    Returns:
      f32[k] weights, non-increasing in rank.
    """
    if kind not in POSITION_WEIGHT_KINDS:
        raise ConfigError("kind", f"must be one of {POSITION_WEIGHT_KINDS}, got {kind!r}")
    if isinstance(gamma, int | float) and not 0.0 <= gamma < 1.0:
        raise ConfigError("gamma", f"must lie in [0, 1), got {gamma}")
    rank = jnp.arange(1, k + 1, dtype=jnp.float32)
    if kind == "log":
        return 1.0 / jnp.log2(1.0 + rank)
    gamma = jnp.asarray(gamma, jnp.float32)
    examined = gamma ** (rank - 1.0)
    return (1.0 - gamma) * examined if kind == "rbp" else examined


def _last(x: jax.Array, axis: int) -> jax.Array:
    return jnp.moveaxis(jnp.asarray(x, jnp.float32), axis, -1)


def _shares(x: jax.Array) -> jax.Array:
    """Shares along the last axis; an all-zero row becomes uniform shares."""
    total = jnp.sum(x, axis=-1, keepdims=True)
    uniform = jnp.full_like(x, 1.0 / x.shape[-1])
    return divide_or(x, total, uniform)


def gini(x: jax.Array, axis: int = -1, where: jax.Array | None = None) -> jax.Array:
    """Gini coefficient of non-negative amounts over ALL ``n`` entries, zeros included.

    With ``x_(1) <= ... <= x_(n)`` sorted ascending (i 1-based):

        G = sum_i (2 i - n - 1) x_(i) / (n sum_i x_i)

    0 for equal amounts, ``1 - 1/n`` when one entry holds everything; 0 when the sum is 0. Entries
    with zero exposure count: dropping them would hide exactly the items a platform ignores.

    Args:
      x: [..., n, ...] non-negative amounts (e.g. exposure per item).
      axis: the axis holding the n entries.
      where: optional bool mask like ``x``: only these entries are in the population (e.g. live
        items of a catalogue with empty slots); ``n`` is then their count.

    Returns:
      f32[...] Gini coefficient in [0, 1 - 1/n].

    >>> float(gini(jnp.array([0.0, 0.0, 0.0, 4.0])))  # one of four holds all: 1 - 1/4
    0.75
    """
    x = _last(x, axis)
    where = (
        jnp.ones(x.shape, bool)
        if where is None
        else jnp.broadcast_to(jnp.moveaxis(jnp.asarray(where, bool), axis, -1), x.shape)
    )
    # masked-out entries sort after every member, where their coefficient is zeroed
    x = jnp.sort(jnp.where(where, x, jnp.inf), axis=-1)
    n = jnp.sum(where, axis=-1, keepdims=True).astype(jnp.float32)
    rank = jnp.arange(1, x.shape[-1] + 1, dtype=jnp.float32)
    member = rank <= n
    x = jnp.where(member, x, 0.0)
    coef = jnp.where(member, 2.0 * rank - n - 1.0, 0.0)
    total = jnp.sum(x, axis=-1)
    return divide_or(jnp.sum(coef * x, axis=-1), n[..., 0] * total, 0.0)


def hhi(x: jax.Array, normalized: bool = False, axis: int = -1) -> jax.Array:
    """Herfindahl-Hirschman index: the sum of squared shares ``s_i = x_i / sum x``.

        HHI = sum_i s_i^2 in [1/n, 1];   normalised: (HHI - 1/n) / (1 - 1/n) in [0, 1]

    Args:
      x: [..., n, ...] non-negative amounts.
      normalized: rescale to [0, 1] (0 = equal shares, 1 = monopoly; 0 when n = 1).
      axis: the axis holding the n entries.

    Returns:
      f32[...] index; an all-zero row counts as equal shares.
    """
    s = _shares(_last(x, axis))
    n = s.shape[-1]
    h = jnp.sum(s * s, axis=-1)
    if not normalized:
        return h
    if n == 1:
        return jnp.zeros_like(h)
    return (h - 1.0 / n) / (1.0 - 1.0 / n)


def entropy(x: jax.Array, normalized: bool = True, axis: int = -1) -> jax.Array:
    """Shannon entropy of the shares ``s_i = x_i / sum x`` (natural log, 0 log 0 = 0).

        H = -sum_i s_i log s_i in [0, log n];   normalised: H / log n in [0, 1]

    Args:
      x: [..., n, ...] non-negative amounts.
      normalized: divide by ``log n`` (1 = equal shares; 1 when n = 1).
      axis: the axis holding the n entries.

    Returns:
      f32[...] entropy; an all-zero row counts as equal shares.
    """
    s = _shares(_last(x, axis))
    n = s.shape[-1]
    h = -jnp.sum(jnp.where(s > 0, s * jnp.log(jnp.where(s > 0, s, 1.0)), 0.0), axis=-1)
    if not normalized:
        return h
    if n == 1:
        return jnp.ones_like(h)
    return h / math.log(n)


def _count_of_fraction(fraction: float, n: int) -> int:
    """ceil(fraction * n), clipped to [1, n]; rounding first so 0.19 * 100 gives 19, not 20."""
    return min(n, max(1, math.ceil(round(fraction * n, 6))))


def _ceil_snapped(x: jax.Array) -> jax.Array:
    """ceil(x) after snapping x to a multiple of 1/64 (exact in float32), so that a float32
    product like 0.3 * 10 = 3.0000002 counts as 3, not 4."""
    return jnp.ceil(jnp.rint(x * 64.0) / 64.0)


def top_share(x: jax.Array, fraction: float = 0.01, axis: int = -1) -> jax.Array:
    """Share of the total held by the top ``k = ceil(fraction * n)`` entries (at least 1).

    Args:
      x: [..., n, ...] non-negative amounts.
      fraction: static fraction of entries in the top group (0.01 = the top 1%).
      axis: the axis holding the n entries.

    Returns:
      f32[...] share in [k/n, 1]; ``k/n`` for an all-zero row.

    >>> float(top_share(jnp.array([1.0, 1.0, 2.0, 4.0]), fraction=0.25))
    0.5
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError("fraction", f"must lie in (0, 1], got {fraction}")
    x = _last(x, axis)
    n = x.shape[-1]
    k = _count_of_fraction(fraction, n)
    top, _ = jax.lax.top_k(x, k)
    total = jnp.sum(x, axis=-1)
    return divide_or(jnp.sum(top, axis=-1), total, k / n)


def bucket_shares(
    exposure: jax.Array,
    popularity: jax.Array,
    alive: jax.Array | None = None,
    head: float = 0.01,
    torso: float = 0.19,
    cold: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Share of exposure going to head, torso, tail and cold items.

    Buckets are defined among the ``n_alive`` alive items:

    - ``cold``: alive items with no history yet: by default those with popularity 0 (e.g. new
      arrivals), or the ``cold`` mask if given (e.g. ``cumulative_exposure == 0``);
    - ``head``: the ``ceil(head * n_alive)`` most popular alive items, cold ones excepted;
    - ``torso``: the next ones up to ``ceil((head + torso) * n_alive)`` by popularity rank;
    - ``tail``: the remaining alive items with popularity > 0.

    Bucket sizes scale with ``n_alive`` (not with the number of warm items) so they stay stable while
    items arrive. Ties in popularity go to the lower item index. Pass the exposure of one step (or a
    window) with the popularity at its start to see how much attention new items get.

    Args:
      exposure: f32[..., n] exposure per item (counts or position-weighted).
      popularity: f32[..., n] popularity per item (e.g. a decayed interaction count), >= 0.
      alive: optional bool[..., n]; dead items belong to no bucket. Default: all alive.
      head: fraction of alive items in the head (static).
      torso: fraction of alive items in the torso (static).
      cold: optional bool[..., n] marking items with no history; default ``popularity == 0``.

    Returns:
      dict ``{"head", "torso", "tail", "cold"}`` of f32[...] shares of the alive items' total
      exposure, summing to 1. With zero total exposure each share is its bucket's size / n_alive.
    """
    exposure = jnp.asarray(exposure, jnp.float32)
    popularity = jnp.asarray(popularity, jnp.float32)
    alive = jnp.ones(exposure.shape, bool) if alive is None else jnp.asarray(alive, bool)
    cold = popularity <= 0 if cold is None else jnp.asarray(cold, bool)
    warm = alive & ~cold
    # Warm items come first, most popular first; a stable sort breaks ties by item index.
    order = jnp.argsort(jnp.where(warm, -popularity, jnp.inf), axis=-1, stable=True)
    rank = jnp.argsort(order, axis=-1)
    n_alive = jnp.sum(alive, axis=-1, keepdims=True).astype(jnp.float32)
    n_head = _ceil_snapped(head * n_alive)
    n_head_torso = _ceil_snapped((head + torso) * n_alive)
    masks = {
        "head": warm & (rank < n_head),
        "torso": warm & (rank >= n_head) & (rank < n_head_torso),
        "tail": warm & (rank >= n_head_torso),
        "cold": alive & ~warm,
    }
    alive_exposure = jnp.where(alive, exposure, 0.0)
    total = jnp.sum(alive_exposure, axis=-1)
    return {
        name: divide_or(
            jnp.sum(jnp.where(mask, alive_exposure, 0.0), axis=-1),
            total,
            jnp.sum(mask, axis=-1) / jnp.maximum(n_alive[..., 0], 1.0),
        )
        for name, mask in masks.items()
    }


def long_tail_coverage(
    exposure: jax.Array,
    is_head: jax.Array,
    alive: jax.Array | None = None,
    axis: int = -1,
) -> jax.Array:
    """Share of alive long-tail (non-head) items that received any exposure.

        coverage = |{i alive, not head, x_i > 0}| / |{i alive, not head}|

    Args:
      exposure: [..., n, ...] exposure per item (cumulative over the period of interest).
      is_head: bool [..., n, ...] popular-group label.
      alive: optional bool [..., n, ...]; default all alive.
      axis: the axis holding the n items.

    Returns:
      f32[...] coverage in [0, 1]; 0 when there is no alive long-tail item.
    """
    exposure = _last(exposure, axis)
    tail = ~jnp.moveaxis(jnp.asarray(is_head, bool), axis, -1)
    if alive is not None:
        tail = tail & jnp.moveaxis(jnp.asarray(alive, bool), axis, -1)
    n_tail = jnp.sum(tail, axis=-1)
    covered = jnp.sum(tail & (exposure > 0), axis=-1)
    return covered / jnp.maximum(n_tail, 1)


def group_exposure_ratio(
    exposure: jax.Array,
    is_head: jax.Array,
    alive: jax.Array | None = None,
    per_item: bool = True,
    axis: int = -1,
) -> jax.Array:
    """Exposure of the popular (head) group relative to the long-tail group.

        ratio = E_head / E_tail,   E_g = mean exposure per item of group g   (per_item=True)
                                   E_g = total exposure of group g           (per_item=False)

    1 means parity per item; FCPO-style constraints bound how far above 1 it may go.

    Args:
      exposure: [..., n, ...] exposure per item.
      is_head: bool [..., n, ...] popular-group label; the other alive items form the long tail.
      alive: optional bool [..., n, ...]; dead items belong to neither group. Default: all alive.
      per_item: compare mean exposure per item (True) or group totals (False).
      axis: the axis holding the n items.

    Returns:
      f32[...] ratio >= 0: ``inf`` when only the long tail has zero exposure, 1 when both do. Never
      NaN; an empty group counts as having zero exposure.
    """
    exposure = _last(exposure, axis)
    head_mask = jnp.moveaxis(jnp.asarray(is_head, bool), axis, -1)
    tail_mask = ~head_mask
    if alive is not None:
        alive = jnp.moveaxis(jnp.asarray(alive, bool), axis, -1)
        head_mask, tail_mask = head_mask & alive, tail_mask & alive
    head_total = jnp.sum(jnp.where(head_mask, exposure, 0.0), axis=-1)
    tail_total = jnp.sum(jnp.where(tail_mask, exposure, 0.0), axis=-1)
    if per_item:
        head_total = head_total / jnp.maximum(jnp.sum(head_mask, axis=-1), 1)
        tail_total = tail_total / jnp.maximum(jnp.sum(tail_mask, axis=-1), 1)
    return divide_or(head_total, tail_total, jnp.where(head_total > 0, jnp.inf, 1.0))


def lorenz_curve(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of non-negative amounts, for plots (NumPy, not traceable).

    Args:
      x: [n] non-negative amounts (e.g. final exposure per item).

    Returns:
      ``(population, cumulative_share)``, both f64[n + 1] starting at (0, 0) and ending at (1, 1):
      the poorest ``population[j]`` fraction of entries holds ``cumulative_share[j]`` of the total.
      The area between the curve and the diagonal is half the :func:`gini` coefficient. An all-zero
      input gives the diagonal.
    """
    x = np.sort(np.asarray(x, np.float64).ravel())
    n = x.size
    population = np.arange(n + 1) / n
    total = x.sum()
    if total <= 0:
        return population, population.copy()
    return population, np.concatenate([[0.0], np.cumsum(x) / total])
