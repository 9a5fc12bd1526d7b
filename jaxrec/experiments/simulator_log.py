"""Impression logs recorded from the simulated platform, as lists for the FM objectives of PE-LTR.

A rollout of :class:`jaxrec.envs.PlatformEnv` with ``log_steps = L`` keeps, for its last ``L``
steps, the user of every slot (``log_user`` i32[L, U], -1 when inactive), the slate shown
(``log_items`` i32[L, U, K], -1 where nothing was shown) and the clicks (``log_clicks``
bool[L, U, K]). :func:`simulator_log_data` runs one world under a baseline policy
(:mod:`jaxrec.agents.baselines`) and turns every (step, active user) pair into one list of ``K``
impressions with the FM fields ``user, item`` (pool user id, item slot). Logged data inherits the
logging policy's exposure: a most-popular logger concentrates it, which is what an exposure
objective must then push against.

The split is temporal: the first ``1 - test_fraction`` of the logged steps train, the rest test.
Purchases are 0 and prices 1 (the simulator has no transactions). ``catalogue`` lists the item
rows alive at the end of the rollout: the candidates whose exposure the exposure objective spreads.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxrec.data.ecommerce import EcommerceData, EcommerceLog
from jaxrec.errors import ConfigError

SIMULATOR_FIELDS: tuple[str, ...] = ("user", "item")


def logs_to_lists(
    log_user: np.ndarray, log_items: np.ndarray, log_clicks: np.ndarray, log_valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lists of a platform log, oldest step first.

    The log is a ring buffer: block ``t % L`` holds step ``t``. For a rollout of at most ``L``
    steps from reset, block order is time order, which is what this assumes.

    Args:
      log_user: i32[L, U]; log_items: i32[L, U, K]; log_clicks: bool[L, U, K]; log_valid: bool[L]
        (the ``log_*`` fields of an ``EnvState``).

    Returns:
      ``(step i32[S], users i32[S], items i32[S, K], clicks bool[S, K])``, one row per active user
      of a logged step that was shown something; ``step`` is the logged step (0 = oldest).
    """
    log_user, log_items = np.asarray(log_user), np.asarray(log_items)
    blocks = np.flatnonzero(np.asarray(log_valid))
    step = np.repeat(blocks, log_user.shape[1])
    users = log_user[blocks].reshape(-1)
    items = log_items[blocks].reshape(-1, log_items.shape[-1])
    clicks = np.asarray(log_clicks)[blocks].reshape(items.shape)
    keep = (users >= 0) & (items >= 0).any(axis=1)
    return step[keep], users[keep], items[keep], clicks[keep]


@functools.lru_cache(maxsize=8)
def _logged_rollout(n_users: int, slate_size: int, steps: int, policy: str) -> tuple:
    """``(env, logger, run)`` with ``run(key, env_params, policy_params) -> final EnvState`` jitted;
    cached so that repeated logs of one configuration compile once."""
    import jax

    from jaxrec.agents.baselines import make_policy
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.envs.rollout import init_carry, make_rollout

    env = PlatformEnv(n_users=n_users, slate_size=slate_size, log_steps=steps)
    logger = make_policy(policy, env)
    rollout = make_rollout(env, logger, steps)

    @jax.jit
    def run(key, env_params, policy_params):
        carry = init_carry(env, key, env_params, logger, policy_params)
        (_, state, *_), _ = rollout(carry, env_params, policy_params)
        return state

    return env, logger, run


def simulator_log_data(
    n_users: int = 256,
    n_items: int = 200,
    steps: int = 40,
    slate_size: int = 10,
    policy: str = "most_popular",
    test_fraction: float = 0.25,
    seed: int = 0,
) -> EcommerceData:
    """Roll out one synthetic world under a baseline policy and return its log as lists.

    Args:
      n_users: user slots served each step (the user pool has the same size).
      n_items: catalogue slots (``min(64, n_items // 4)`` producers own them).
      steps: rollout length; every step is logged (``log_steps = steps``).
      slate_size: items per slate, the list length ``K``.
      policy: a baseline of :func:`jaxrec.agents.baselines.make_policy` (``random``,
        ``most_popular``, ``greedy``, ...).
      test_fraction: share of the (latest) logged steps held out.
      seed: world and rollout seed.

    Returns:
      ``EcommerceData`` named ``simulator`` with fields ``user, item`` (sizes ``n_users``,
      ``n_items``), lists of ``slate_size`` impressions, and ``catalogue`` i32[M, 1] the item rows
      alive at the end.
    """
    import jax

    from jaxrec.data.synthetic import synthetic_world

    for name, value, low in (("steps", steps, 2), ("n_users", n_users, 1)):
        if value < low:
            raise ConfigError(name, f"must be >= {low}, got {value}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError("test_fraction", f"must lie in (0, 1), got {test_fraction}")
    world = synthetic_world(
        seed, n_users=n_users, n_items=n_items, n_producers=max(1, min(64, n_items // 4))
    )
    env, logger, run = _logged_rollout(n_users, slate_size, steps, policy)
    state = run(jax.random.key(seed), env.default_params(world), logger.init_params())
    step, users, items, clicks = logs_to_lists(
        state.log_user, state.log_items, state.log_clicks, state.log_valid
    )
    shown = items >= 0
    # FM rows: user field first, then the item field; unshown slots point at item row 0, masked.
    feature_ids = np.stack(
        [np.broadcast_to(users[:, None], items.shape), n_users + np.maximum(items, 0)], axis=-1
    ).astype(np.int32)
    full = EcommerceLog(
        feature_ids=feature_ids,
        clicks=(clicks & shown).astype(np.float32),
        purchases=np.zeros(items.shape, np.float32),
        prices=np.ones(items.shape, np.float32),
        mask=shown,
    )
    n_train_steps = max(1, min(steps - 1, round((1.0 - test_fraction) * steps)))
    alive = np.flatnonzero(np.asarray(state.item_alive))
    return EcommerceData(
        name=f"simulator ({policy} logger)",
        field_sizes=(n_users, n_items),
        train=full.take(np.flatnonzero(step < n_train_steps)),
        test=full.take(np.flatnonzero(step >= n_train_steps)),
        field_names=SIMULATOR_FIELDS,
        catalogue=(n_users + alive)[:, None].astype(np.int32),
    )
