"""Fairness re-rankers for the platform: a fixed quota on live labels, the paper's static
re-ranker with labels frozen at deployment, and the FairCo controller.

- :class:`QuotaRerankPolicy` (``quota_rerank``): ``head_ratio * K`` head items per slate (a
  fractional quota rounded up or down per slate, stochastically, so its mean is exact),
  by the labels the platform holds *now*. Head items per slate equal the quota by construction.
- :class:`FrozenRerankPolicy` (``frozen_rerank``): the same quota on the labels of the step it
  started serving, never updated (the FCPO paper's static solution, MF-FOE; Ge et al. 2021). An
  item that arrives later had no popularity when the labels were fixed, so it counts as long-tail.
  As popularity moves, its "tail" items become the new head and the slates drift.
- :class:`FairCoPolicy` (``fairco``): Morik, Singh, Hong & Joachims (SIGIR 2020), group variant.
  Items are ranked by ``score_i + lambda * err_G(i)`` where ``err_G = max_G' E_G'/m_G' - E_G/m_G``
  is group ``G``'s accumulated exposure deficit against a merit-proportional target. Here the
  exposure ``E_G`` is the number of ``G`` items per served slate summed over the steps since the
  policy started serving (the quantity CPO's cost counts, amortised over time), groups are the
  platform's live labels, and the merit shares are ``m = (head_ratio, 1 - head_ratio)``: the
  platform's target share, so FairCo aims at the same exposure as the constrained agents and the
  quota. ``lambda`` is the gain of a controller that needs no training.
- :class:`FairCoItemPolicy` (``fairco_item``): the same controller per item (Morik et al.'s
  individual fairness of exposure): ``score_i + lambda * err(i)`` with
  ``err(i) = tau * (max_j E_j/R_j - E_i/R_i)``, where ``E_i`` sums item ``i``'s exposure per
  served slate (the examination weight of each position it was shown at) and ``R_i`` its merit
  (its click probability when examined, averaged over the served users) over the same steps, and
  ``tau`` counts the steps served. Exposure is then proportional to merit
  item by item, with no groups and no target: its head items per slate are whatever merit gives.
  An item slot refilled by a new item starts counting afresh at the item's arrival, and an item
  with no merit counted yet is neither short nor over.

Policies with a controller state keep it in a *memory* pytree that the rollout carries
(``init_memory`` / ``act_with_memory``); the slate functions :func:`quota_slate` and
:func:`fairco_slate` take any scores, so the long-run experiment applies them on top of a learned
agent's scores.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec import tomlconfig
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_stages import shown_items
from jaxrec.envs.platform_types import EnvState, Observation
from jaxrec.ops.selection import select_slate


def check_head_ratio(head_ratio: float) -> float:
    """``head_ratio`` as a number in [0, 1], else a ConfigError naming ``policy.head_ratio``."""
    return tomlconfig.number(head_ratio, "policy.head_ratio", low=0.0, high=1.0)


def quota_slate(
    scores: jax.Array,
    mask: jax.Array,
    is_head: jax.Array,
    head_ratio: jax.Array,
    k: int,
    key: jax.Array | None = None,
) -> jax.Array:
    """Group-quota re-ranking: i32[U, K] slates of the best ``head_ratio * K`` allowed items with
    ``is_head`` and the best allowed others, ordered by score.

    Args:
      scores: f32[U, M]; mask: bool[U, M] allowed items; is_head: bool[M] the labels the quota
        counts; head_ratio: f32[] (may be traced); k: slate size (static).
      key: rounds a fractional quota stochastically, per slate: ``floor(head_ratio * K)`` head
        items, plus one with probability equal to the fractional part, so the mean over slates is
        ``head_ratio * K`` (a target of 0.5 head items in 5 would otherwise round to 0 every
        time). Without a key the quota is ``round(head_ratio * K)`` for every slate.

    When one group has too few allowed items, the other fills its positions.
    """
    head = jnp.broadcast_to(is_head, scores.shape)
    expected = head_ratio * k
    if key is None:
        n_head = jnp.round(expected).astype(jnp.int32)
    else:
        # float32 products such as 0.3 * 10 land a hair off the integer they stand for
        whole = jnp.floor(expected + 1e-4)
        extra = jax.random.uniform(key, (scores.shape[0], 1)) < expected - whole
        n_head = (whole + extra).astype(jnp.int32)
    head_scores, head_items = jax.lax.top_k(jnp.where(mask & head, scores, -jnp.inf), k)
    tail_scores, tail_items = jax.lax.top_k(jnp.where(mask & ~head, scores, -jnp.inf), k)
    # A group short of allowed items lends its positions to the other group.
    n_head_avail = jnp.isfinite(head_scores).sum(axis=1, keepdims=True)
    n_tail_avail = jnp.isfinite(tail_scores).sum(axis=1, keepdims=True)
    take_head = jnp.clip(n_head, k - n_tail_avail, n_head_avail)
    position = jnp.arange(k)[None, :]
    quota = jnp.concatenate([position < take_head, position < k - take_head], axis=1)
    candidates = jnp.concatenate([head_items, tail_items], axis=1)
    candidate_scores = jnp.concatenate([head_scores, tail_scores], axis=1)
    ranked = jnp.where(quota, candidate_scores, -jnp.inf)
    order = jax.lax.top_k(ranked, k)[1]
    return jnp.take_along_axis(candidates, order, axis=1).astype(jnp.int32)


@flax.struct.dataclass
class QuotaRerankParams:
    head_ratio: jax.Array  # f32[] share of slate positions given to head-group items


class QuotaRerankPolicy:
    """Quota re-ranking of the oracle scores (click logits) on the platform's live labels."""

    def __init__(self, env: PlatformEnv, head_ratio: float = 0.3):
        self.env = env
        self.head_ratio = check_head_ratio(head_ratio)

    def init_params(self) -> QuotaRerankParams:
        return QuotaRerankParams(head_ratio=jnp.asarray(self.head_ratio, jnp.float32))

    def act(self, key, obs, state, env_params, policy_params):
        scores = self.env.click_logits(state, env_params)
        mask = self.env.action_mask(obs)
        return quota_slate(
            scores, mask, obs.item_is_head, policy_params.head_ratio, self.env.slate_size, key
        )


# The live-label re-ranker's names before #11 ("static_rerank"): kept as aliases.
StaticRerankParams = QuotaRerankParams
StaticRerankPolicy = QuotaRerankPolicy


@flax.struct.dataclass
class FrozenLabels:
    """The frozen re-ranker's memory: ``labels`` bool[M] head labels when it started serving,
    at platform step ``since`` i32[]."""

    labels: jax.Array
    since: jax.Array


def freeze_labels(obs: Observation) -> FrozenLabels:
    """Fix the current head labels (the deployment moment of the static re-ranker)."""
    return FrozenLabels(labels=obs.item_is_head, since=obs.step)


def frozen_head(memory: FrozenLabels, item_arrival_step: jax.Array) -> jax.Array:
    """Head labels bool[M] under frozen labels: an item slot refilled after the freeze holds a new
    item, which had no popularity when the labels were fixed, so it is long-tail."""
    return memory.labels & (item_arrival_step <= memory.since)


class FrozenRerankPolicy:
    """Quota re-ranking of the oracle scores on the head labels of the step it started serving
    (see the module docstring); ``head_ratio`` as in :class:`QuotaRerankPolicy`."""

    def __init__(self, env: PlatformEnv, head_ratio: float = 0.3):
        self.env = env
        self.head_ratio = check_head_ratio(head_ratio)

    def init_params(self) -> QuotaRerankParams:
        return QuotaRerankParams(head_ratio=jnp.asarray(self.head_ratio, jnp.float32))

    def init_memory(self, obs, state, env_params, policy_params) -> FrozenLabels:
        return freeze_labels(obs)

    def act_with_memory(self, key, obs, state: EnvState, env_params, policy_params, memory):
        scores = self.env.click_logits(state, env_params)
        mask = self.env.action_mask(obs)
        head = frozen_head(memory, state.item_arrival_step)
        slate = quota_slate(scores, mask, head, policy_params.head_ratio, self.env.slate_size, key)
        return slate, memory


@flax.struct.dataclass
class FairCoParams:
    head_ratio: jax.Array  # f32[] the head group's merit share = target share of slate positions
    gain: jax.Array  # f32[] lambda, the controller gain (score units per item-per-slate deficit)


@flax.struct.dataclass
class FairCoMemory:
    """``exposure`` f32[2]: head and long-tail items per served slate, summed over the steps since
    FairCo started serving."""

    exposure: jax.Array


def fairco_error(exposure: jax.Array, head_ratio: jax.Array) -> jax.Array:
    """Each group's exposure deficit ``max_G' E_G'/m_G' - E_G/m_G`` (>= 0), f32[2] (head, tail),
    with merit shares ``m = (head_ratio, 1 - head_ratio)``; a zero share makes any exposure of
    that group an unbounded excess (the other group's deficit)."""
    merit = jnp.stack([head_ratio, 1.0 - head_ratio])
    ratio = exposure / jnp.maximum(merit, 1e-6)
    return jnp.max(ratio) - ratio


def fairco_slate(
    scores: jax.Array,
    mask: jax.Array,
    is_head: jax.Array,
    memory: FairCoMemory,
    params: FairCoParams,
    k: int,
) -> jax.Array:
    """FairCo slates i32[U, K]: the best allowed items by ``scores + gain * err_G(i)``."""
    error = fairco_error(memory.exposure, params.head_ratio)
    bonus = params.gain * jnp.where(is_head, error[0], error[1])
    return select_slate(scores + bonus[None, :], mask, k)


def fairco_update(
    memory: FairCoMemory,
    slate: jax.Array,
    is_head: jax.Array,
    item_alive: jax.Array,
    user_active: jax.Array,
) -> FairCoMemory:
    """Add one step's head and long-tail items per served slate (what the platform shows)."""
    shown = shown_items(slate, item_alive, user_active)
    n_served = jnp.maximum(user_active.sum(), 1)
    head = (shown & is_head[slate]).sum() / n_served
    return FairCoMemory(exposure=memory.exposure + jnp.stack([head, shown.sum() / n_served - head]))


def fairco_memory() -> FairCoMemory:
    return FairCoMemory(exposure=jnp.zeros(2, jnp.float32))


class FairCoPolicy:
    """FairCo (group) on the oracle scores (click logits) and the platform's live labels.

    Args:
      head_ratio: the head group's merit share, i.e. its target share of slate positions.
      gain: lambda; the controller's deficit is in items per slate summed over steps, so with
        logits of order 1 a gain of 1 corrects a deficit of one slate's item within a few steps.
    """

    def __init__(self, env: PlatformEnv, head_ratio: float = 0.3, gain: float = 1.0):
        self.env = env
        self.head_ratio = check_head_ratio(head_ratio)
        self.gain = tomlconfig.number(gain, "policy.gain", low=0.0)

    def init_params(self) -> FairCoParams:
        return FairCoParams(
            head_ratio=jnp.asarray(self.head_ratio, jnp.float32),
            gain=jnp.asarray(self.gain, jnp.float32),
        )

    def init_memory(self, obs, state, env_params, policy_params) -> FairCoMemory:
        return fairco_memory()

    def act_with_memory(self, key, obs, state, env_params, policy_params, memory):
        scores = self.env.click_logits(state, env_params)
        mask = self.env.action_mask(obs)
        slate = fairco_slate(
            scores, mask, obs.item_is_head, memory, policy_params, self.env.slate_size
        )
        memory = fairco_update(memory, slate, obs.item_is_head, obs.item_alive, obs.user_active)
        return slate, memory


@flax.struct.dataclass
class FairCoItemParams:
    gain: jax.Array  # f32[] lambda, in score units per unit of err


@flax.struct.dataclass
class FairCoItemMemory:
    """Per-item FairCo's counts: ``exposure`` f32[M] the item's exposure per served slate
    (examination weights of the positions it was shown at) and ``merit`` f32[M] its click
    probability when examined, averaged over the served users, each summed over
    the steps since ``since`` i32[M] (the step the policy started, or the arrival of the item that
    holds the slot now); ``steps`` f32[] the steps served."""

    exposure: jax.Array
    merit: jax.Array
    since: jax.Array
    steps: jax.Array


def fairco_item_memory(n_items: int, step: jax.Array) -> FairCoItemMemory:
    return FairCoItemMemory(
        exposure=jnp.zeros(n_items, jnp.float32),
        merit=jnp.zeros(n_items, jnp.float32),
        since=jnp.full(n_items, step, jnp.int32),
        steps=jnp.zeros((), jnp.float32),
    )


def fairco_item_arrivals(memory: FairCoItemMemory, item_arrival_step: jax.Array):
    """Slots whose item arrived after they started counting count afresh from its arrival."""
    new = item_arrival_step > memory.since
    return memory.replace(
        exposure=jnp.where(new, 0.0, memory.exposure),
        merit=jnp.where(new, 0.0, memory.merit),
        since=jnp.where(new, item_arrival_step, memory.since),
    )


def fairco_item_error(memory: FairCoItemMemory, item_alive: jax.Array) -> jax.Array:
    """``err(i) = steps * (max_j E_j/R_j - E_i/R_i)`` f32[M] over the live items with merit
    counted (``R > 0``); the others get 0."""
    counted = item_alive & (memory.merit > 0)
    ratio = memory.exposure / jnp.where(counted, memory.merit, 1.0)
    top = jnp.max(jnp.where(counted, ratio, -jnp.inf))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    return memory.steps * jnp.where(counted, top - ratio, 0.0)


def fairco_item_update(
    memory: FairCoItemMemory,
    slate: jax.Array,
    click_probability: jax.Array,
    examination: jax.Array,
    item_alive: jax.Array,
    user_active: jax.Array,
) -> FairCoItemMemory:
    """Add one step of slates i32[U, K]: each item's exposure per served slate (``examination``
    f32[K] at the positions it was shown at) and its ``click_probability`` f32[U, M] when
    examined, averaged over the served users."""
    shown = shown_items(slate, item_alive, user_active)
    n_served = jnp.maximum(user_active.sum(), 1)
    n_items = memory.exposure.shape[0]
    weight = jnp.where(shown, jnp.broadcast_to(examination, slate.shape), 0.0)
    shows = (
        jnp.zeros(n_items, jnp.float32)
        .at[jnp.where(shown, slate, n_items)]
        .add(weight, mode="drop")
    )
    merit = jnp.where(user_active[:, None], click_probability, 0.0).sum(axis=0) / n_served
    return memory.replace(
        exposure=memory.exposure + shows / n_served,
        merit=memory.merit + merit,
        steps=memory.steps + 1.0,
    )


class FairCoItemPolicy:
    """FairCo per item on the oracle scores (click logits), merit the oracle's click
    probabilities (see the module docstring).

    Args:
      gain: lambda, in logits per unit of ``err`` (steps x exposure per unit of merit).
    """

    def __init__(self, env: PlatformEnv, gain: float = 1.0):
        self.env = env
        self.gain = tomlconfig.number(gain, "policy.gain", low=0.0)

    def init_params(self) -> FairCoItemParams:
        return FairCoItemParams(gain=jnp.asarray(self.gain, jnp.float32))

    def init_memory(self, obs, state, env_params, policy_params) -> FairCoItemMemory:
        return fairco_item_memory(obs.item_alive.shape[0], obs.step)

    def act_with_memory(self, key, obs, state: EnvState, env_params, policy_params, memory):
        scores = self.env.click_logits(state, env_params)
        memory = fairco_item_arrivals(memory, state.item_arrival_step)
        bonus = policy_params.gain * fairco_item_error(memory, obs.item_alive)
        mask = self.env.action_mask(obs)
        slate = select_slate(scores + bonus[None, :], mask, self.env.slate_size)
        memory = fairco_item_update(
            memory,
            slate,
            jax.nn.sigmoid(scores),
            env_params.examination,
            obs.item_alive,
            obs.user_active,
        )
        return slate, memory
