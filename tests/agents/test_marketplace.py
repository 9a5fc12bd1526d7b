"""Marketplace re-ranking: constraints on every slate (property tests vs a NumPy greedy), floors,
penalty and bonus formulas, and the policy file's errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.agents.marketplace import (
    EXAMPLE_POLICY_PATH,
    adjusted_scores,
    constrained_slate,
    load_policy,
    policy_from_dict,
    saturation_penalty,
    underexposure_bonus,
)
from jaxrec.errors import ConfigError, DataFormatError
from jaxrec.ops.selection import select_slate

U, M, P, K = 6, 20, 4, 5
EXAMPLE = EXAMPLE_POLICY_PATH

slate_fn = jax.jit(constrained_slate, static_argnums=(7, 8))
adjust_fn = jax.jit(adjusted_scores, static_argnums=(5,))


def make_params(relevance_floor, quality_floor, per_producer, head_share, min_new):
    return policy_from_dict(
        {
            "version": 1,
            "floors": {"relevance": relevance_floor, "quality": quality_floor},
            "slate": {
                "max_per_producer": per_producer,
                "max_head_share": head_share,
                "min_new_slots": min_new,
            },
        }
    ).params()


def random_catalogue(seed: int):
    rng = np.random.default_rng(seed)
    return {
        "scores": rng.normal(size=(U, M)).astype(np.float32),
        "relevance": rng.normal(size=(U, M)).astype(np.float32),
        "mask": rng.random((U, M)) < 0.8,
        "producer": rng.integers(0, P, M).astype(np.int32),
        "quality": rng.normal(size=M).astype(np.float32),
        "head": rng.random(M) < 0.4,
        "new": rng.random(M) < 0.15,
    }


def reference_slates(c, relevance_floor, quality_floor, per_producer, head_share, min_new):
    """Plain-Python greedy: at each position take the best open item breaking the
    lowest-priority set of constraints (new < head < producer)."""
    producer_limit = per_producer if per_producer > 0 else K
    head_limit = math.floor(head_share * K + 1e-6)
    slates = np.full((U, K), -1)
    gave_way = np.zeros((U, 3), bool)
    for u in range(U):
        passes = c["mask"][u] & (c["relevance"][u] >= relevance_floor)
        passes &= c["quality"] >= quality_floor
        chosen: list[int] = []
        for j in range(K):
            open_items = [i for i in range(M) if passes[i] and i not in chosen]
            if not open_items:
                break
            n_new = sum(c["new"][i] for i in chosen)
            must_new = K - j <= min(min_new, K) - n_new and any(c["new"][i] for i in open_items)
            n_head = sum(c["head"][i] for i in chosen)

            def code(i, chosen=chosen, must_new=must_new, n_head=n_head):
                count = sum(c["producer"][x] == c["producer"][i] for x in chosen)
                return (
                    4 * (count >= producer_limit)
                    + 2 * (c["head"][i] and n_head >= head_limit)
                    + (must_new and not c["new"][i])
                )

            least = min(code(i) for i in open_items)
            best = max(
                (i for i in open_items if code(i) == least), key=lambda i: (c["scores"][u, i], -i)
            )
            gave_way[u] |= [(least >> b) & 1 == 1 for b in range(3)]
            chosen.append(best)
            slates[u, j] = best
    return slates, gave_way


def run_slates(c, params):
    slate, gave_way = slate_fn(
        jnp.asarray(c["scores"]), jnp.asarray(c["relevance"]), jnp.asarray(c["mask"]),
        jnp.asarray(c["producer"]), jnp.asarray(c["quality"]), jnp.asarray(c["head"]),
        jnp.asarray(c["new"]), P, K, params,
    )  # fmt: skip
    return np.asarray(slate), np.asarray(gave_way)


constraint_settings = dict(
    seed=st.integers(0, 2**31 - 1),
    relevance_floor=st.sampled_from([-1e9, -0.5, 0.0, 1.0]),
    quality_floor=st.sampled_from([-1e9, -0.5, 0.5]),
    per_producer=st.integers(0, 3),
    head_share=st.sampled_from([0.0, 0.2, 0.4, 1.0]),
    min_new=st.integers(0, 3),
)


@settings(max_examples=40, deadline=None)
@given(**constraint_settings)
def test_every_slate_meets_floors_and_constraints(
    seed, relevance_floor, quality_floor, per_producer, head_share, min_new
):
    c = random_catalogue(seed)
    params = make_params(relevance_floor, quality_floor, per_producer, head_share, min_new)
    slate, gave_way = run_slates(c, params)
    head_limit = math.floor(head_share * K + 1e-6)
    for u in range(U):
        passes = (
            c["mask"][u] & (c["relevance"][u] >= relevance_floor) & (c["quality"] >= quality_floor)
        )
        filled = slate[u][slate[u] >= 0]
        # floors are never violated; positions stay empty only when no passing item is left
        assert passes[filled].all()
        assert len(set(filled.tolist())) == len(filled) == min(K, passes.sum())
        assert (slate[u][: len(filled)] >= 0).all()  # empty positions are at the bottom
        if not gave_way[u, 2] and per_producer > 0:
            assert np.bincount(c["producer"][filled], minlength=P).max() <= per_producer
        if not gave_way[u, 1]:
            assert c["head"][filled].sum() <= head_limit
        if not gave_way[u, 0]:
            assert c["new"][filled].sum() >= min(min_new, (passes & c["new"]).sum())


@settings(max_examples=15, deadline=None)
@given(**constraint_settings)
def test_slates_match_a_plain_python_greedy(
    seed, relevance_floor, quality_floor, per_producer, head_share, min_new
):
    c = random_catalogue(seed)
    params = make_params(relevance_floor, quality_floor, per_producer, head_share, min_new)
    slate, gave_way = run_slates(c, params)
    expected, expected_gave_way = reference_slates(
        c, relevance_floor, quality_floor, per_producer, head_share, min_new
    )
    np.testing.assert_array_equal(slate, expected)
    np.testing.assert_array_equal(gave_way, expected_gave_way)


def test_no_constraints_is_plain_top_k():
    c = random_catalogue(7)
    slate, gave_way = run_slates(c, make_params(-1e9, -1e9, 0, 1.0, 0))
    expected = select_slate(jnp.asarray(c["scores"]), jnp.asarray(c["mask"]), K)
    np.testing.assert_array_equal(slate, np.asarray(expected))
    assert not gave_way.any()


def test_a_contradiction_reports_the_constraint_that_gave_way():
    # every item is head and from one producer: with a head cap of 0 and 1 item per producer,
    # the head cap and then the producer cap must give way; floors still hold
    c = random_catalogue(3)
    c.update(mask=np.ones((U, M), bool), head=np.ones(M, bool), producer=np.zeros(M, np.int32))
    slate, gave_way = run_slates(c, make_params(-1e9, -1e9, 1, 0.0, 0))
    assert (slate >= 0).all()
    assert gave_way[:, 1].all() and gave_way[:, 2].all() and not gave_way[:, 0].any()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    alpha=st.floats(0, 3),
    sat_cap=st.floats(0, 2),
    sat_target=st.floats(0.2, 3),
    beta=st.floats(0, 3),
    bonus_cap=st.floats(0, 1),
    bonus_target=st.floats(0.2, 3),
    min_quality=st.floats(-1, 1),
)
def test_penalty_and_bonus_match_their_formulas_and_caps(
    seed, alpha, sat_cap, sat_target, beta, bonus_cap, bonus_target, min_quality
):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(U, M)).astype(np.float32)
    exposure = (rng.pareto(1.5, M) * rng.random(M)).astype(np.float32)
    producer = rng.integers(0, P, M)
    quality = rng.normal(size=M).astype(np.float32)
    alive = rng.random(M) < 0.85
    policy = policy_from_dict(
        {
            "version": 1,
            "saturation": {"alpha": alpha, "cap": sat_cap, "target": sat_target},
            "bonus": {
                "beta": beta,
                "cap": bonus_cap,
                "target": bonus_target,
                "min_quality": min_quality,
            },
        }
    )
    got = np.asarray(
        adjust_fn(
            jnp.asarray(scores), jnp.asarray(exposure), jnp.asarray(producer, jnp.int32),
            jnp.asarray(quality), jnp.asarray(alive), P, policy.params(),
        )
    )  # fmt: skip
    live = np.where(alive, exposure, 0.0).astype(np.float64)
    expected = scores.astype(np.float64)
    for i in range(M):
        p = producer[i]
        share = alive[producer == p].sum() / alive.sum()
        target_p = sat_target * live.sum() * share
        # a producer without live items has no exposure and no target: no penalty
        excess = live[producer == p].sum() / target_p - 1.0 if target_p > 0 else 0.0
        penalty = min(max(excess, 0.0), sat_cap)
        target_i = bonus_target * live.sum() / alive.sum()
        bonus = min(beta * max(1.0 - exposure[i] / target_i, 0.0), bonus_cap)
        bonus = bonus if quality[i] >= min_quality else 0.0
        expected[:, i] += bonus - alpha * penalty
        assert 0.0 <= penalty <= sat_cap and 0.0 <= bonus <= bonus_cap
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_penalty_and_bonus_elementwise_caps():
    exposure = jnp.array([0.0, 1.0, 2.0, 10.0])
    np.testing.assert_allclose(saturation_penalty(exposure, 2.0, 1.5), [0, 0, 0, 1.5])
    np.testing.assert_allclose(saturation_penalty(exposure, 2.0, 10.0), [0, 0, 0, 4.0])
    np.testing.assert_allclose(underexposure_bonus(exposure, 2.0, 1.0, 0.3), [0.3, 0.3, 0, 0])
    np.testing.assert_allclose(underexposure_bonus(exposure, 2.0, 0.4, 1.0), [0.4, 0.2, 0, 0])


def test_example_policy_loads():
    policy = load_policy(EXAMPLE)
    assert policy.sections["slate"]["max_per_producer"] == 2
    assert [rule["metric"] for rule in policy.alerts][:1] == ["top1_share"]
    policy.check_slate_size(10)


@pytest.mark.parametrize(
    "raw, field",
    [
        ({}, "version"),
        ({"version": 2}, "version"),
        ({"version": 1, "slates": {}}, "slates"),
        ({"version": 1, "slate": {"max_per_producers": 1}}, "slate.max_per_producers"),
        ({"version": 1, "slate": {"max_per_producer": 1.5}}, "slate.max_per_producer"),
        ({"version": 1, "slate": {"max_per_producer": "2"}}, "slate.max_per_producer"),
        ({"version": 1, "slate": {"max_head_share": 1.2}}, "slate.max_head_share"),
        ({"version": 1, "slate": {"min_new_slots": -1}}, "slate.min_new_slots"),
        ({"version": 1, "bonus": {"cap": -0.1}}, "bonus.cap"),
        ({"version": 1, "saturation": {"target": 0}}, "saturation.target"),
        ({"version": 1, "floors": {"quality": float("nan")}}, "floors.quality"),
        ({"version": 1, "alerts": [{"metric": "gini", "op": ">", "threshold": 1}]}, "alerts[0].metric"),
        ({"version": 1, "alerts": [{"metric": "top1_share", "op": "=", "threshold": 1}]}, "alerts[0].op"),
    ],
)  # fmt: skip
def test_malformed_policy_names_the_field(raw, field):
    with pytest.raises(ConfigError) as err:
        policy_from_dict(raw)
    assert err.value.field == field


def test_contradictory_policy_and_bad_toml(tmp_path):
    policy = policy_from_dict({"version": 1, "slate": {"min_new_slots": 4}})
    with pytest.raises(ConfigError, match=r"slate\.min_new_slots"):
        policy.check_slate_size(3)
    bad = tmp_path / "policy.toml"
    bad.write_text("version = 1\n[slate]\nmax_per_producer = = 2\n")
    with pytest.raises(DataFormatError) as err:
        load_policy(bad)
    assert err.value.line == 3 and str(bad) in str(err.value)
