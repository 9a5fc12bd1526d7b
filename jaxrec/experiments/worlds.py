"""Worlds for a run: :func:`world_from_ratings` fits logistic matrix factorization to MovieLens
ratings and turns the fit into a :class:`~jaxrec.data.world.World`, so simulated users behave like
the data's users; :func:`build_world` picks a synthetic or a fitted world from the data options.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxrec.data.movielens import MovieLensData
from jaxrec.data.synthetic import deal_producers
from jaxrec.data.world import World
from jaxrec.errors import ConfigError
from jaxrec.models.mf import MFConfig, fit_mf


def world_from_ratings(
    data: MovieLensData,
    dim: int = 32,
    n_producers: int = 50,
    seed: int = 0,
    producer_exponent: float = 1.0,
    mf_config: MFConfig | None = None,
    ratings: pd.DataFrame | None = None,
) -> World:
    """Fit logistic MF (:func:`jaxrec.models.mf.fit_mf`) to the ratings and build a :class:`World`.

    Every rating, whatever its value, is an observed interaction (as in the FCPO protocol). With
    ``p_u, q_i, b_i`` the fitted user vectors, item vectors and item biases:

    - ``user_factors = p`` for all ``n_users`` data users (the pool is the data's population);
    - ``item_factors = q``; relevance ``p_u . q_i`` is on the logit scale of the fit;
    - ``item_quality = b - mean(b)`` (centred: the mean only sets the overall click rate);
    - ``item_popularity`` = number of ratings of each item in ``ratings``;
    - every item alive;
    - producers: MovieLens has none, so ``n_producers`` producers get Zipf catalogue sizes
      (exponent ``producer_exponent``, as in synthetic worlds) and items are dealt to them in an
      order drawn from ``seed`` — independent of the items' factors, a documented assumption.

    Args:
      data: a loaded dataset (:func:`~jaxrec.data.load_ml100k`, :func:`~jaxrec.data.load_ml1m`).
      dim: latent dimension (overrides ``mf_config.dim``).
      n_producers: number of producers, <= ``data.n_items``.
      seed: fixes the fit (initialisation, shuffling, negatives) and the producer assignment.
      producer_exponent: Zipf exponent of producer catalogue sizes.
      mf_config: MF hyper-parameters; defaults to ``MFConfig()``.
      ratings: the interactions to fit and count, e.g. only a training split; defaults to
        ``data.ratings``. Columns ``user`` and ``item`` with ``data``'s 0-based ids.

    Returns:
      A validated world with ``P = data.n_users`` pool users and ``M = data.n_items`` items.
    """
    ratings = data.ratings if ratings is None else ratings
    if not 1 <= n_producers <= data.n_items:
        raise ConfigError(
            "n_producers", f"must be in [1, n_items = {data.n_items}], got {n_producers}"
        )
    if producer_exponent < 0:
        raise ConfigError("producer_exponent", f"must be >= 0, got {producer_exponent}")
    config = dataclasses.replace(MFConfig() if mf_config is None else mf_config, dim=dim)
    k_fit, k_producers = jax.random.split(jax.random.key(seed))
    items = ratings["item"].to_numpy(np.int32)
    params, _ = fit_mf(
        k_fit,
        ratings["user"].to_numpy(np.int32),
        items,
        n_users=data.n_users,
        n_items=data.n_items,
        config=config,
    )
    bias = params["item_bias"]
    return World.from_arrays(
        user_factors=params["user"],
        item_factors=params["item"],
        item_quality=bias - jnp.mean(bias),
        item_producer=deal_producers(k_producers, data.n_items, n_producers, producer_exponent),
        item_popularity=np.bincount(items, minlength=data.n_items),
        n_producers=n_producers,
    )
