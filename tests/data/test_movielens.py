"""MovieLens loaders on tiny files written in the official formats (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxrec.data.movielens import (
    ML1M_GENRES,
    ML100K_GENRES,
    load_ml1m,
    load_ml100k,
)
from jaxrec.errors import ConfigError, DataFormatError
from jaxrec.experiments.worlds import world_from_ratings
from jaxrec.models.mf import MFConfig

# Raw ids deliberately not contiguous and not in order, to exercise the renumbering.
U_USER = "7|24|M|technician|85711\n2|53|F|other|94043\n"
U_ITEM_ROWS = [
    # id|title|release date|video release date|url|19 flags
    ("10", "Toy Story (1995)", "01-Jan-1995", [2, 3, 5]),
    ("3", "Café (1996)", "", [8]),
    ("5", "unknown", "", [0]),
]
U_DATA = "7\t10\t5\t881250949\n2\t3\t1\t891717742\n7\t3\t4\t878887116\n2\t5\t3\t880606923\n"


def u_item_text(rows=U_ITEM_ROWS) -> str:
    lines = []
    for raw_id, title, date, genre_columns in rows:
        flags = ["1" if g in genre_columns else "0" for g in range(len(ML100K_GENRES))]
        lines.append("|".join([raw_id, title, date, "", "http://x", *flags]))
    return "\n".join(lines) + "\n"


def write_ml100k(directory: Path, **overrides: bytes | str) -> Path:
    files = {"u.user": U_USER, "u.item": u_item_text(), "u.data": U_DATA, **overrides}
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode("latin-1")
        (directory / name).write_bytes(data)
    return directory


USERS_DAT = "1::F::1::10::48067\n3::M::56::16::70072\n"
MOVIES_DAT = "1::Toy Story (1995)::Animation|Children's|Comedy\n4::Heat (1995)::Action|Crime\n"
RATINGS_DAT = "1::4::5::978300760\n3::1::3::978302109\n1::1::4::978301968\n"


def write_ml1m(directory: Path, **overrides: bytes | str) -> Path:
    files = {"users.dat": USERS_DAT, "movies.dat": MOVIES_DAT, "ratings.dat": RATINGS_DAT}
    files.update(overrides)
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode("latin-1")
        (directory / name).write_bytes(data)
    return directory


def test_ml100k_ids_side_info_and_genres(tmp_path):
    data = load_ml100k(write_ml100k(tmp_path))
    assert (data.n_users, data.n_items, data.n_genres) == (2, 3, 19)
    np.testing.assert_array_equal(data.user_raw_ids, [2, 7])
    np.testing.assert_array_equal(data.item_raw_ids, [3, 5, 10])
    # Each rating row, mapped back to raw ids, must equal the file's row.
    raw = [tuple(int(x) for x in line.split("\t")) for line in U_DATA.splitlines()]
    back = list(
        zip(
            data.user_raw_ids[data.ratings["user"]].tolist(),
            data.item_raw_ids[data.ratings["item"]].tolist(),
            data.ratings["rating"].tolist(),
            data.ratings["timestamp"].tolist(),
            strict=True,
        )
    )
    assert back == raw
    assert list(data.ratings.columns) == ["user", "item", "rating", "timestamp"]
    assert data.users["user"].tolist() == [0, 1]
    assert data.users["occupation"].tolist() == ["other", "technician"]
    assert data.users["age"].tolist() == [53, 24]
    assert data.items["title"].tolist() == ["Café (1996)", "unknown", "Toy Story (1995)"]
    assert data.items["year"].tolist() == [1996, -1, 1995]
    expected_genres = np.zeros((3, 19), bool)
    expected_genres[0, 8] = expected_genres[1, 0] = True
    expected_genres[2, [2, 3, 5]] = True
    np.testing.assert_array_equal(data.item_genres, expected_genres)


def test_ml1m_ids_occupations_and_genres(tmp_path):
    data = load_ml1m(write_ml1m(tmp_path))
    assert (data.n_users, data.n_items, data.n_genres) == (2, 2, 18)
    assert data.ratings[["user", "item", "rating"]].values.tolist() == [
        [0, 1, 5],
        [1, 0, 3],
        [0, 0, 4],
    ]
    assert data.users["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert data.users["gender"].tolist() == ["F", "M"]
    assert data.items["year"].tolist() == [1995, 1995]
    names = np.asarray(ML1M_GENRES)
    assert set(names[data.item_genres[0]]) == {"Animation", "Children's", "Comedy"}
    assert set(names[data.item_genres[1]]) == {"Action", "Crime"}


@pytest.mark.parametrize(
    ("loader", "writer", "missing"),
    [(load_ml100k, write_ml100k, "u.item"), (load_ml1m, write_ml1m, "ratings.dat")],
)
def test_missing_file_names_it_and_says_where_to_get_it(tmp_path, loader, writer, missing):
    directory = writer(tmp_path / "d")
    (directory / missing).unlink()
    with pytest.raises(DataFormatError, match=missing) as info:
        loader(directory)
    assert "grouplens.org" in str(info.value)
    with pytest.raises(DataFormatError, match="directory not found"):
        loader(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("u.data", U_DATA + "2\t10\t4\n", 5, "expected 4 fields"),
        ("u.data", U_DATA.replace("\t1\t", "\tone\t"), 2, "must be an integer"),
        ("u.data", U_DATA + "2\t10\t6\t1\n", 5, r"rating must be in 1\.\.5"),
        ("u.data", U_DATA + "2\t10\t0\t1\n", 5, r"rating must be in 1\.\.5"),
        ("u.data", U_DATA + "9\t10\t3\t1\n", 5, "user id 9"),
        ("u.data", U_DATA + "2\t11\t3\t1\n", 5, "item id 11"),
        ("u.data", b"7\t10\t5\t1\n2\t3\t\xe9\t1\n", 2, "not valid ascii"),
        ("u.user", U_USER + "8|30|M|writer\n", 3, "expected 5 fields"),
        ("u.user", U_USER + "2|30|M|writer|1\n", 3, "duplicate user id 2"),
        ("u.item", u_item_text() + "12|x|\n", 4, "expected 24 fields"),
        ("u.item", "x".encode("utf-16"), 1, "NUL bytes"),
        ("u.user", "", None, "file is empty"),
        ("u.data", "\n", None, "file is empty"),
    ],
)
def test_ml100k_bad_files_name_file_and_line(tmp_path, name, content, line, message):
    directory = write_ml100k(tmp_path, **{name: content})
    with pytest.raises(DataFormatError, match=message) as info:
        load_ml100k(directory)
    assert info.value.path.endswith(name)
    assert info.value.line == line


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("ratings.dat", RATINGS_DAT + "1::4::5\n", 4, "expected 4 fields"),
        ("ratings.dat", RATINGS_DAT + "1::4::9::1\n", 4, r"rating must be in 1\.\.5"),
        ("movies.dat", MOVIES_DAT + "5::X (1990)::Horror|Space\n", 3, "unknown genre 'Space'"),
        ("users.dat", USERS_DAT + "4::M::25::21::1\n", 3, "occupation code"),
    ],
)
def test_ml1m_bad_files_name_file_and_line(tmp_path, name, content, line, message):
    directory = write_ml1m(tmp_path, **{name: content})
    with pytest.raises(DataFormatError, match=message) as info:
        load_ml1m(directory)
    assert info.value.path.endswith(name)
    assert info.value.line == line


def test_latin1_and_utf8_item_files_give_the_same_titles(tmp_path):
    latin = load_ml100k(write_ml100k(tmp_path / "latin"))
    utf8 = load_ml100k(write_ml100k(tmp_path / "utf8", **{"u.item": u_item_text().encode("utf-8")}))
    assert latin.items["title"].tolist() == utf8.items["title"].tolist()
    assert "Café (1996)" in latin.items["title"].tolist()


def test_blank_lines_are_skipped_and_later_lines_keep_their_numbers(tmp_path):
    content = "7\t10\t5\t1\n\n2\t3\t7\t1\n"
    directory = write_ml100k(tmp_path, **{"u.data": content})
    with pytest.raises(DataFormatError) as info:
        load_ml100k(directory)
    assert info.value.line == 3


@pytest.fixture(scope="module")
def fitted_world_inputs(tmp_path_factory):
    data = load_ml100k(write_ml100k(tmp_path_factory.mktemp("ml")))
    config = MFConfig(dim=3, epochs=3, batch_size=4)
    return data, config


def test_world_from_ratings_is_valid_and_counts_popularity(fitted_world_inputs):
    data, config = fitted_world_inputs
    world = world_from_ratings(data, dim=3, n_producers=2, seed=5, mf_config=config)
    world.validate()
    assert world.user_factors.shape == (2, 3) and world.item_factors.shape == (3, 3)
    assert world.n_producers == 2 and bool(world.item_alive.all())
    np.testing.assert_array_equal(
        world.item_popularity, np.bincount(data.ratings["item"], minlength=3)
    )
    assert abs(float(world.item_quality.mean())) < 1e-6
    np.testing.assert_array_equal(np.sort(np.bincount(world.item_producer)), [1, 2])
    again = world_from_ratings(data, dim=3, n_producers=2, seed=5, mf_config=config)
    np.testing.assert_array_equal(world.item_factors, again.item_factors)
    np.testing.assert_array_equal(world.item_producer, again.item_producer)


def test_world_from_ratings_rejects_too_many_producers(fitted_world_inputs):
    data, config = fitted_world_inputs
    with pytest.raises(ConfigError, match="n_producers"):
        world_from_ratings(data, n_producers=4, mf_config=config)
