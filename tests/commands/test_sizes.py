"""Memory estimates from shapes: runs that cannot fit are refused before anything is allocated."""

from __future__ import annotations

import tracemalloc

import pytest

from jaxrec.cli import main
from jaxrec.commands import _sizes
from jaxrec.errors import ResourceError

LIMIT = 16 * 2**30  # a fixed device limit, so the tests do not depend on this machine's memory


@pytest.fixture(autouse=True)
def fixed_limit(monkeypatch):
    monkeypatch.setattr(_sizes, "available_bytes", lambda: (LIMIT, "test memory"))


def test_the_estimate_covers_the_score_matrices_of_every_world():
    # independent lower bound: each world's step holds a float32 users x items score matrix
    for users, items, worlds in ((512, 1000, 4), (10_000_000, 2048, 1), (1024, 2048, 100_000)):
        estimate = _sizes.platform_bytes(
            n_users=users, n_items=items, dim=16, slate_size=10, n_worlds=worlds
        )
        assert estimate >= 4 * users * items * worlds
        assert estimate <= 4 * worlds * (users * items * 5 + (users + items) * 100) + 10**9


def test_the_fm_estimate_covers_every_runs_table_and_the_data():
    # independent lower bound: each run holds its float32 table and Adam's two moments of it
    for features, dim, runs, rows in ((2_700, 64, 12, 10**5), (300_000, 32, 3, 3 * 10**7)):
        estimate = _sizes.fm_bytes(
            n_features=features, dim=dim, runs=runs, n_rows=rows, row_width=5, eval_rows=rows
        )
        assert estimate >= 4 * (3 * runs * features * dim + 5 * rows)
        assert estimate <= 4 * (10 * runs * features * (dim + 1) + 3 * runs * rows + 5 * rows)


def test_check_fits_refuses_with_the_estimate_and_the_limit_unless_allowed():
    with pytest.raises(ResourceError, match=r"needs about 32 GiB .* test memory is 16 GiB"):
        _sizes.check_fits(32 * 2**30, "a run")
    _sizes.check_fits(32 * 2**30, "a run", allow_large=True)
    _sizes.check_fits(8 * 2**30, "a run")


@pytest.mark.parametrize(
    ("argv", "config"),
    [
        (["simulate", "--worlds", "100000"], None),
        (["simulate"], "[world]\nn_users = 10000000\n"),
        (["simulate"], "[world]\nn_items = 10000000\nn_producers = 8\n"),
        (["demo", "--users", "10000000"], None),
        (["train", "cpo", "--synthetic-items", "10000000"], None),
        (["train", "platform", "--platform-users", "10000000"], None),
        (["fm", "--samples", "2000000000"], None),
        (["fm", "--seeds", "64", "--tune", "64", "--dim", "4096"], None),
        (["pareto", "--lists", "1000000000"], None),
        (["pareto", "--data", "simulator", "--sim-users", "10000000"], None),
        (["pareto", "--settings", "2000", "--seeds", "100", "--dim", "512"], None),
    ],
)
def test_huge_runs_are_refused_without_allocating(tmp_path, capsys, monkeypatch, argv, config):
    import jaxrec.data.synthetic as synthetic

    real = synthetic.synthetic_world

    def small_only(seed, config=None, **overrides):  # the probe world is fine, the real one is not
        world = real(seed, config, **overrides)
        assert world.n_items * world.user_factors.shape[0] < 10_000
        return world

    monkeypatch.setattr(synthetic, "synthetic_world", small_only)
    if config is not None:
        (tmp_path / "c.toml").write_text(config)
        argv = [argv[0], str(tmp_path / "c.toml"), *argv[1:]]
    tracemalloc.start()
    try:
        code = main([*argv, "--out", str(tmp_path / "out")], validate_only=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "GiB" in err and "--allow-large" in err
    assert peak < 64 * 2**20  # host memory the refusal itself took
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", ["cpo", "ppo-lag", "compare", "sweep"])
def test_every_movielens_release_passes_the_training_checks(tmp_path, mode):
    # a release whose size the command does not know is checked once its ratings are read
    from jaxrec.commands._options import MOVIELENS

    for data in MOVIELENS:
        argv = ["train", mode, "--data", data, "--data-dir", str(tmp_path)]
        assert main([*argv, "--out", str(tmp_path / "out")], validate_only=True) == 0
