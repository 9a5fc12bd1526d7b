"""Synthetic world generator: determinism, scales, Zipf popularity and producers, config errors."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

from jaxrec.data import SyntheticWorldConfig, synthetic_world
from jaxrec.data.synthetic import producer_catalogue_sizes
from jaxrec.errors import ConfigError

SMALL = SyntheticWorldConfig(
    n_users=64, n_items=1500, n_producers=12, dim=8, pool_users=96, empty_fraction=0.2
)
ARRAY_FIELDS = (
    "user_factors",
    "item_factors",
    "item_quality",
    "item_producer",
    "item_popularity",
    "item_alive",
)


@pytest.fixture(scope="module")
def world():
    return synthetic_world(3, SMALL)


def test_shapes_dtypes_and_valid(world):
    world.validate()
    assert world.user_factors.shape == (96, 8) and world.item_factors.shape == (1500, 8)
    assert world.user_factors.dtype == np.float32 and world.item_producer.dtype == np.int32
    assert world.n_producers == 12


def test_same_seed_same_world_and_key_equals_int(world):
    again = synthetic_world(jax.random.key(3), SMALL)
    other = synthetic_world(4, SMALL)
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(world, name), getattr(again, name))
    assert not np.array_equal(world.item_factors, other.item_factors)


def test_vmapped_batch_equals_worlds_built_alone(world):
    keys = jax.vmap(jax.random.key)(np.array([3, 4]))
    batch = jax.vmap(lambda k: synthetic_world(k, SMALL))(keys)
    alone = synthetic_world(4, SMALL)
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(batch, name)[0], getattr(world, name))
        np.testing.assert_array_equal(getattr(batch, name)[1], getattr(alone, name))


def test_logit_scales(world):
    users = np.asarray(world.user_factors)
    np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, rtol=1e-5)
    relevance = users @ np.asarray(world.item_factors).T
    assert abs(relevance.std() - SMALL.relevance_std) < 0.1
    assert abs(np.std(world.item_quality) - SMALL.quality_std) < 0.05


def test_popularity_is_zipf_over_live_items_and_tracks_appeal(world):
    alive = np.asarray(world.item_alive)
    popularity = np.asarray(world.item_popularity)
    assert alive.sum() == SMALL.n_alive == 1200
    assert np.all(popularity[~alive] == 0)
    ranks = np.arange(1, alive.sum() + 1)
    np.testing.assert_allclose(
        np.sort(popularity[alive])[::-1], SMALL.popularity_scale * ranks**-1.0, rtol=1e-5
    )
    appeal = np.asarray(world.item_quality) + np.asarray(world.item_factors) @ np.asarray(
        world.user_factors
    ).mean(0)
    # Gaussian rank correlation (6/pi) asin(rho/2) = 0.48 for rho = 0.5, up to sampling noise.
    rank_corr = spearmanr(popularity[alive], appeal[alive]).statistic
    assert 0.38 < rank_corr < 0.58


def test_producers_follow_zipf_sizes(world):
    counts = np.bincount(np.asarray(world.item_producer), minlength=12)
    np.testing.assert_array_equal(counts, producer_catalogue_sizes(1500, 12, 1.0))


@given(
    n_items=st.integers(1, 400),
    n_producers=st.integers(1, 400),
    exponent=st.floats(0, 3),
)
def test_catalogue_sizes_against_proportional_quota(n_items, n_producers, exponent):
    n_producers = min(n_producers, n_items)
    sizes = producer_catalogue_sizes(n_items, n_producers, exponent)
    assert sizes.sum() == n_items and sizes.min() >= 1
    assert np.all(np.diff(sizes) <= 0)
    weights = np.arange(1, n_producers + 1) ** -exponent
    quota = 1 + (n_items - n_producers) * weights / weights.sum()
    assert np.all(np.abs(sizes - quota) < 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_items": 0}, "n_items"),
        ({"n_users": 2.5}, "n_users"),
        ({"dim": True}, "dim"),
        ({"n_producers": 5000}, "n_producers"),
        ({"pool_users": 10}, "pool_users"),
        ({"quality_std": -1.0}, "quality_std"),
        ({"popularity_correlation": 1.5}, "popularity_correlation"),
        ({"empty_fraction": 1.0}, "empty_fraction"),
        ({"popularity_scale": 0}, "popularity_scale"),
        ({"relevance_std": float("nan")}, "relevance_std"),
        ({"n_itmes": 3}, "n_itmes"),
    ],
)
def test_invalid_parameters_name_the_field(overrides, field):
    with pytest.raises(ConfigError) as info:
        synthetic_world(0, **overrides)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_from_dict_maps_a_toml_table_and_prefixes_errors():
    table = {"n_users": 8, "n_items": 32, "n_producers": 4, "quality_std": 1}
    config = SyntheticWorldConfig.from_dict(table)
    assert config == dataclasses.replace(SyntheticWorldConfig(), **table)
    with pytest.raises(ConfigError, match=r"^world\.n_items: must be >= 1"):
        SyntheticWorldConfig.from_dict({"n_items": 0}, section="world")
    with pytest.raises(ConfigError, match=r"^world\.colour: unknown key"):
        SyntheticWorldConfig.from_dict({"colour": 1}, section="world")
