"""The MovieLens "latest" CSV loader, the load_ratings dispatch and the most-rated cut, on tiny files in
the official format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.data.implicit import movielens_features
from jaxrec.data.loaders import DATASETS, load_ratings, most_rated_items
from jaxrec.data.movielens_latest import NO_GENRES, load_ml_latest
from jaxrec.errors import ConfigError, DataFormatError

MOVIES_CSV = (
    "movieId,title,genres\n"
    '10,"Shawshank Redemption, The (1994)",Crime|Drama\n'
    "2,Jumanji (1995),Adventure|Children|Fantasy\n"
    "7,Some Film Without Year,(no genres listed)\n"
    '31,"Sabrina (1995) ",Comedy|Romance\n'
)
RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n"
    "5,10,4.5,964982703\n"
    "1,2,0.5,964981247\n"
    "5,7,3.0,964982224\n"
    "1,31,5.0,964983815\n"
    "9,10,4,964982931\n"
)


def write_latest(directory: Path, ratings: str = RATINGS_CSV, movies: str = MOVIES_CSV) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.csv").write_text(ratings, encoding="utf-8")
    (directory / "movies.csv").write_text(movies, encoding="utf-8")
    return directory


def test_reads_ratings_movies_genres_and_years(tmp_path):
    data = load_ml_latest(write_latest(tmp_path))
    assert data.name == "ml-latest" and (data.n_users, data.n_items) == (3, 4)
    np.testing.assert_array_equal(data.item_raw_ids, [2, 7, 10, 31])  # sorted raw ids
    np.testing.assert_array_equal(data.user_raw_ids, [1, 5, 9])
    assert data.items["title"][2] == "Shawshank Redemption, The (1994)"  # quoted comma kept
    np.testing.assert_array_equal(data.items["year"], [1995, -1, 1994, 1995])
    assert data.genre_names[0] == NO_GENRES and "Crime" in data.genre_names
    genres = {data.genre_names[g] for g in np.flatnonzero(data.item_genres[0])}
    assert genres == {"Adventure", "Children", "Fantasy"}
    assert data.item_genres[1].tolist() == [True] + [False] * (data.n_genres - 1)
    ratings = data.ratings
    np.testing.assert_array_equal(ratings["user"], [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(ratings["item"], [2, 0, 1, 3, 2])
    np.testing.assert_allclose(ratings["rating"], [4.5, 0.5, 3.0, 5.0, 4.0])
    assert ratings["timestamp"].iloc[0] == 964982703
    assert list(data.users.columns) == ["user"]  # no demographics in this format


@pytest.mark.parametrize(
    "line, message",
    [
        ("1,2,4.25,964981247", "half star"),
        ("1,2,5.5,964981247", "half star"),
        ("1,99,4.0,964981247", "movieId 99 is not in movies.csv"),
        ("1,2,4.0", "expected 4 fields"),
        ("x,2,4.0,964981247", "userId"),
        ("1,2,4.0,soon", "timestamp"),
    ],
)
def test_bad_rating_lines_are_named_with_file_and_line(tmp_path, line, message):
    ratings = RATINGS_CSV + line + "\n" + "9,2,4.0,964982931\n"
    with pytest.raises(DataFormatError, match=message) as err:
        load_ml_latest(write_latest(tmp_path, ratings=ratings))
    assert err.value.line == 7 and err.value.path.endswith("ratings.csv")


def test_bad_headers_and_movie_lines(tmp_path):
    with pytest.raises(DataFormatError, match="header") as err:
        load_ml_latest(write_latest(tmp_path / "a", ratings="user,movie,r,t\n1,2,4.0,9\n"))
    assert err.value.line == 1
    movies = MOVIES_CSV + "44,Unquoted, comma (2001),Drama\n"
    with pytest.raises(DataFormatError, match="expected 3 comma-separated fields") as err:
        load_ml_latest(write_latest(tmp_path / "b", movies=movies))
    assert err.value.line == 6
    movies = MOVIES_CSV + "2,Jumanji again (1995),Comedy\n"
    with pytest.raises(DataFormatError, match="duplicate movie id 2") as err:
        load_ml_latest(write_latest(tmp_path / "c", movies=movies))
    assert err.value.line == 6
    with pytest.raises(DataFormatError, match=r"ratings\.csv: file not found"):
        (write_latest(tmp_path / "d") / "ratings.csv").unlink()
        load_ml_latest(tmp_path / "d")


def test_load_ratings_dispatches_every_format_and_names_missing_options(tmp_path):
    assert set(DATASETS) == {"ml-100k", "ml-1m", "ml-latest"}
    assert load_ratings("ml-latest", write_latest(tmp_path)).n_items == 4
    with pytest.raises(ConfigError, match="data_dir"):
        load_ratings("ml-latest", None)
    with pytest.raises(ConfigError, match="data"):
        load_ratings("ml-20x", tmp_path)


def test_user_centric_setting_needs_demographics(tmp_path):
    data = load_ml_latest(write_latest(tmp_path))
    with pytest.raises(ConfigError, match=r"setting.*demographics.*--setting item"):
        movielens_features(data, setting="user", positive_threshold=0.5)


@settings(max_examples=20, deadline=None)
@given(
    items=st.lists(st.integers(0, 7), min_size=1, max_size=40),
    n_items=st.integers(1, 8),
)
def test_most_rated_items_keeps_the_top_counts_in_order(tmp_path_factory, items, n_items):
    """Against a loop: the kept items are the ``n_items`` largest counts (ties to the lower id),
    renumbered in id order, and the ratings are the original ones on kept items, in file order."""
    movies = "movieId,title,genres\n" + "".join(
        f"{100 + i},Film {i} (1990),{'Drama' if i % 2 else 'Comedy'}\n" for i in range(8)
    )
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{row % 3 + 1},{100 + item},4,{row}\n" for row, item in enumerate(items)
    )
    data = load_ml_latest(write_latest(tmp_path_factory.mktemp("latest"), ratings, movies))
    cut = most_rated_items(data, n_items)
    count = {i: items.count(i) for i in range(8)}
    kept = sorted(sorted(range(8), key=lambda i: (-count[i], i))[:n_items])
    assert cut.item_raw_ids.tolist() == [100 + i for i in kept]
    assert cut.items["title"].tolist() == [f"Film {i} (1990)" for i in kept]
    assert cut.items["item"].tolist() == list(range(n_items))
    np.testing.assert_array_equal(cut.item_genres, data.item_genres[kept])
    expected = [(row % 3, kept.index(i)) for row, i in enumerate(items) if i in kept]
    assert list(zip(cut.ratings["user"], cut.ratings["item"], strict=True)) == expected
    assert cut.n_users == data.n_users
    with pytest.raises(ConfigError, match="--top-items"):
        most_rated_items(data, 9)
