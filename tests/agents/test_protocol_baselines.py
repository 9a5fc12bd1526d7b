"""Static baselines on the FCPO protocol against plain NumPy rankings, and the protocol comparison /
trade-off helpers on a tiny planted log."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.agents.protocol_baselines import baseline_ranking, rerank_ranking, serve_ranking
from jaxrec.agents.train import protocol_metrics
from jaxrec.envs.fcpo import FCPOEnv, fcpo_setup, planted_ratings
from jaxrec.errors import ConfigError
from jaxrec.experiments.fcpo import Protocol, baseline_metrics
from jaxrec.models.mf import MFConfig

U, N_ITEMS, T = 6, 30, 8
rerank_jit = jax.jit(rerank_ranking, static_argnums=3)


def numpy_rerank(scores, is_head, head_ratio, length):
    """Reference: best round(r T) head items and best (T - that) tail items, merged by score."""
    n_head = int(np.round(np.float32(head_ratio) * length))
    out = []
    for row in scores:
        head = [i for i in np.argsort(-row, kind="stable") if is_head[i]][:n_head]
        tail = [i for i in np.argsort(-row, kind="stable") if not is_head[i]][: length - n_head]
        out.append(sorted(head + tail, key=lambda i: -row[i]))
    return np.array(out)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ratio=st.sampled_from([0.0, 0.25, 0.5, 0.625, 1.0]))
def test_rerank_takes_the_quota_of_each_group_in_score_order(seed, ratio):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(U, N_ITEMS)).astype(np.float32)
    is_head = np.zeros(N_ITEMS, bool)
    is_head[rng.choice(N_ITEMS, 10, replace=False)] = True
    got = np.asarray(rerank_jit(jnp.asarray(scores), jnp.asarray(is_head), ratio, T))
    np.testing.assert_array_equal(got, numpy_rerank(scores, is_head, ratio, T))


def test_plain_rankings_are_the_top_scores():
    rng = np.random.default_rng(0)
    relevance = rng.normal(size=(U, N_ITEMS)).astype(np.float32)
    counts = rng.permutation(N_ITEMS).astype(np.float32)
    is_head = jnp.zeros(N_ITEMS, bool)
    greedy = baseline_ranking("mf_greedy", jax.random.key(0), relevance, counts, is_head, T)
    np.testing.assert_array_equal(greedy, np.argsort(-relevance, axis=1)[:, :T])
    popular = baseline_ranking("most_popular", jax.random.key(0), relevance, counts, is_head, T)
    np.testing.assert_array_equal(popular, np.tile(np.argsort(-counts)[:T], (U, 1)))
    random = np.asarray(
        baseline_ranking("random", jax.random.key(3), relevance, counts, is_head, T)
    )
    assert all(len(set(row)) == T for row in random)  # distinct items per user
    with pytest.raises(ConfigError, match="baseline"):
        baseline_ranking("oracle", jax.random.key(0), relevance, counts, is_head, T)


@pytest.fixture(scope="module")
def protocol():
    ratings = planted_ratings(jax.random.key(0), n_users=20, n_items=40, dim=4, per_user=20)
    setup = fcpo_setup(jax.random.key(0), ratings, n_items=40, mf_config=MFConfig(dim=4, epochs=2))
    return Protocol.from_setup(setup, train_steps=5, test_steps=20)


def test_served_ranking_hits_are_the_held_out_items(protocol):
    env, params = protocol.test_env, protocol.test_params
    rng = np.random.default_rng(1)
    ranking = np.stack(
        [rng.permutation(env.n_items)[: env.episode_len] for _ in range(env.n_users)]
    )
    items, hits, n_relevant = serve_ranking(jnp.asarray(ranking, jnp.int32), env, params)
    targets = np.asarray(params.targets)
    np.testing.assert_array_equal(items, ranking)
    np.testing.assert_array_equal(hits, np.take_along_axis(targets, ranking, axis=1))
    np.testing.assert_array_equal(n_relevant, targets.sum(axis=1))


def test_rerank_sweep_moves_pop_rate_with_the_head_ratio(protocol):
    ratios = [0.0, 0.5, 1.0]
    metrics = baseline_metrics("static_rerank", protocol, head_ratios=ratios, ks=(20,))
    # a quota of round(r T) head items out of T = 20, capped by the size of the head group (the
    # tail lends its items to fill the rest), is the pop_rate@20
    n_head = int(protocol.setup.is_head.sum())
    expected = [min(round(r * 20), n_head) / 20 for r in ratios]
    np.testing.assert_allclose(metrics["pop_rate@20"], expected, atol=1e-6)
    greedy = baseline_metrics("mf_greedy", protocol, ks=(20,))
    relevance_pop = float(greedy["pop_rate@20"])
    assert metrics["ndcg@20"].shape == (3,) and 0.0 <= relevance_pop <= 1.0


def test_baseline_metrics_equal_protocol_metrics_of_the_ranking(protocol):
    env, params = protocol.test_env, protocol.test_params
    counts = jnp.asarray(protocol.setup.split.train_counts, jnp.float32)
    ranking = baseline_ranking(
        "most_popular", jax.random.key(0), jnp.zeros((env.n_users, env.n_items)), counts,
        params.is_head, env.episode_len,
    )  # fmt: skip
    expected = protocol_metrics(*serve_ranking(ranking, env, params), params.is_head, (20,))
    got = baseline_metrics("most_popular", protocol, ks=(20,))
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-6)
    assert isinstance(env, FCPOEnv)


def test_agent_item_vectors_append_the_mf_bias(protocol):
    """``w = [u, 1]`` scores items exactly as MF does (u . e_i + b_i), so the agent's action space
    holds every MF user's ranking, popularity (the bias) included."""
    setup = protocol.setup
    mf = setup.mf_params
    np.testing.assert_array_equal(setup.item_embeddings[:, :-1], mf["item"])
    np.testing.assert_array_equal(setup.item_embeddings[:, -1], mf["item_bias"])
    actions = np.concatenate([mf["user"], np.ones((len(mf["user"]), 1), np.float32)], axis=1)
    reference = mf["user"] @ mf["item"].T + mf["item_bias"]
    np.testing.assert_allclose(actions @ setup.item_embeddings.T, reference, rtol=1e-5, atol=1e-5)


def test_exclude_seen_blocks_seen_items_for_every_method(protocol):
    split = protocol.setup.split
    seen = split.membership("initial") | split.membership("train")
    excluding = Protocol.from_setup(protocol.setup, train_steps=5, test_steps=20, exclude_seen=True)
    env, params = excluding.test_env, excluding.test_params
    # the agents' test episode starts with the seen items unavailable ...
    obs, _ = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(np.asarray(obs.available), ~seen)
    # ... and no baseline lists one
    relevance = jnp.asarray(protocol.setup.mf_params["user"] @ protocol.setup.mf_params["item"].T)
    counts = jnp.asarray(split.train_counts, jnp.float32)
    rows = np.arange(env.n_users)[:, None]
    for name in ("random", "most_popular", "mf_greedy", "static_rerank"):
        ranking = baseline_ranking(
            name, jax.random.key(0), relevance, counts, params.is_head, env.episode_len,
            mask=~params.blocked,
        )  # fmt: skip
        assert not seen[rows, np.asarray(ranking)].any(), name
    # seen items are never held-out hits, so dropping them only moves hits up the MF list
    plain = baseline_metrics("mf_greedy", protocol)
    excluded = baseline_metrics("mf_greedy", excluding)
    for k in (5, 10, 20):
        assert excluded[f"recall@{k}"] >= plain[f"recall@{k}"] - 1e-7
        assert excluded[f"ndcg@{k}"] >= plain[f"ndcg@{k}"] - 1e-7
