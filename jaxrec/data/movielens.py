"""MovieLens-100K and MovieLens-1M loaders for the official GroupLens file formats.

jaxrec never downloads data: the user fetches the archives from https://grouplens.org/datasets/movielens/
(Harper & Konstan 2015, "The MovieLens Datasets: History and Context"), unzips them, and passes the
directory. Both loaders return a :class:`MovieLensData` with 0-based contiguous user and item ids, so
the rest of jaxrec (splits, FM features, :func:`jaxrec.experiments.worlds.world_from_ratings`) never
sees raw ids.

Every problem with a file raises :class:`~jaxrec.errors.DataFormatError` naming the file and, where it
can, the 1-based line: a missing file, a line with the wrong number of fields or a non-integer where an
integer belongs, bytes that are not in the file's encoding, a rating outside 1..5, or a rating that
refers to a user or item missing from the user/item file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.data.grouplens import (
    _YEAR_IN_TITLE,
    _expect_files,
    _parse_side_file,
    _read_ratings,
    _to_int,
)
from jaxrec.errors import DataFormatError

# The 19 genre flags of u.item, in file order (ML-100K README / u.genre).
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
# The 18 genre names movies.dat uses (ML-1M README); ML-1M has no "unknown" genre.
ML1M_GENRES: tuple[str, ...] = ML100K_GENRES[1:]
# users.dat stores occupations as codes 0-20 (ML-1M README); they are mapped to these names so that the
# `occupation` column holds names for both datasets.
ML1M_OCCUPATIONS: tuple[str, ...] = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class MovieLensData:
    """Ratings plus user and item side information, with 0-based contiguous ids.

    Users are numbered by increasing raw id over the user file, items by increasing raw id over the
    item file (items nobody rated keep their slot). ``U = n_users``, ``I = n_items``, ``G = n_genres``.

    Attributes:
      ratings: columns ``user`` (int32), ``item`` (int32), ``rating`` (int32, 1..5), ``timestamp``
        (int64, Unix seconds), in file order.
      users: one row per user, sorted by ``user``: ``user`` (int32), ``gender`` ("M"/"F"), ``age``
        (int; ML-1M stores the lower bound of an age bucket), ``occupation`` (name), ``zip`` (str).
      items: one row per item, sorted by ``item``: ``item`` (int32), ``title`` (str), ``year``
        (int, release year or -1 when unknown).
      item_genres: bool[I, G], ``item_genres[i, g]`` is True when item ``i`` has genre ``g``.
      genre_names: the ``G`` genre names, in column order of ``item_genres``.
      user_raw_ids: int64[U], the raw id in the files of each 0-based user.
      item_raw_ids: int64[I], the raw id in the files of each 0-based item.
      name: "ml-100k" or "ml-1m".
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    item_genres: np.ndarray
    genre_names: tuple[str, ...]
    user_raw_ids: np.ndarray
    item_raw_ids: np.ndarray
    name: str

    @property
    def n_users(self) -> int:
        return len(self.user_raw_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_raw_ids)

    @property
    def n_genres(self) -> int:
        return len(self.genre_names)


def _finish(
    name: str,
    ratings: pd.DataFrame,
    user_index: dict[int, int],
    user_rows: list[dict],
    item_index: dict[int, int],
    item_rows: list[dict],
    item_genres: list[list[bool]],
    genre_names: tuple[str, ...],
) -> MovieLensData:
    """Assemble :class:`MovieLensData`, ordering users and items by their new 0-based ids."""
    users = pd.DataFrame(user_rows).sort_values("user", ignore_index=True)
    users["user"] = users["user"].astype(np.int32)
    items = pd.DataFrame(item_rows)
    genres = np.asarray(item_genres, dtype=bool).reshape(len(item_rows), len(genre_names))
    order = np.argsort(items["item"].to_numpy(), kind="stable")
    items = items.iloc[order].reset_index(drop=True)
    items["item"] = items["item"].astype(np.int32)
    return MovieLensData(
        ratings=ratings,
        users=users,
        items=items,
        item_genres=genres[order],
        genre_names=genre_names,
        user_raw_ids=np.fromiter(user_index, dtype=np.int64, count=len(user_index)),
        item_raw_ids=np.fromiter(item_index, dtype=np.int64, count=len(item_index)),
        name=name,
    )


# --------------------------------------------------------------------------------------------------
# MovieLens-100K
# --------------------------------------------------------------------------------------------------

_U_USER_LAYOUT = "user id|age|gender|occupation|zip code"
_U_ITEM_LAYOUT = "movie id|title|release date|video release date|IMDb URL|19 genre flags"
_U_DATA_LAYOUT = "user id<TAB>item id<TAB>rating<TAB>timestamp"


def _year(release_date: str, title: str) -> int:
    """Release year from a date like ``01-Jan-1995``, else from a title ending ``(1995)``, else -1."""
    tail = release_date.strip()[-4:]
    if tail.isdigit():
        return int(tail)
    match = _YEAR_IN_TITLE.search(title)
    return int(match.group(1)) if match else -1


def load_ml100k(directory: str | Path) -> MovieLensData:
    """Load MovieLens-100K from the unzipped ``ml-100k`` directory (``u.data``, ``u.user``, ``u.item``).

    ``u.data``: ``user<TAB>item<TAB>rating<TAB>timestamp`` (ASCII); ``u.user``:
    ``id|age|gender|occupation|zip`` (ASCII); ``u.item``: ``id|title|release date|video release date|
    IMDb URL|`` then 19 genre flags (latin-1). 943 users, 1682 items and 100,000 ratings in the
    official release.

    Raises:
      DataFormatError: a file is missing, malformed (file and line named) or wrongly encoded, a rating
        is outside 1..5, or a rating refers to an unknown user or item.
    """
    directory = _expect_files(directory, ("u.data", "u.user", "u.item"), "ml-100k.zip")

    user_path = directory / "u.user"

    def parse_user(number: int, fields: list[str]) -> dict:
        return {
            "gender": fields[2],
            "age": _to_int(user_path, number, "age", fields[1]),
            "occupation": fields[3],
            "zip": fields[4],
        }

    user_index, user_rows, _ = _parse_side_file(
        user_path, "ascii", "|", 5, _U_USER_LAYOUT, "user", parse_user
    )

    item_path = directory / "u.item"

    def parse_item(number: int, fields: list[str]) -> dict:
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DataFormatError(item_path, "genre flags must be 0 or 1", line=number)
        return {"title": fields[1], "year": _year(fields[2], fields[1])}

    item_index, item_rows, item_lines = _parse_side_file(
        item_path, "latin-1", "|", 5 + len(ML100K_GENRES), _U_ITEM_LAYOUT, "item", parse_item
    )
    genres = [[flag == "1" for flag in fields[5:]] for _, fields in item_lines]

    ratings = _read_ratings(directory / "u.data", "\t", _U_DATA_LAYOUT, user_index, item_index)
    return _finish(
        "ml-100k", ratings, user_index, user_rows, item_index, item_rows, genres, ML100K_GENRES
    )


# --------------------------------------------------------------------------------------------------
# MovieLens-1M
# --------------------------------------------------------------------------------------------------

_USERS_DAT_LAYOUT = "UserID::Gender::Age::Occupation::Zip-code"
_MOVIES_DAT_LAYOUT = "MovieID::Title::Genres"
_RATINGS_DAT_LAYOUT = "UserID::MovieID::Rating::Timestamp"


def load_ml1m(directory: str | Path) -> MovieLensData:
    """Load MovieLens-1M from the unzipped ``ml-1m`` directory (``ratings.dat``, ``users.dat``, ``movies.dat``).

    ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``; ``users.dat``:
    ``UserID::Gender::Age::Occupation::Zip-code`` (occupation codes 0-20 become names);
    ``movies.dat``: ``MovieID::Title::Genres`` with ``|``-separated genre names (latin-1). 6040
    users, 3883 movies (raw ids up to 3952, renumbered contiguously) and 1,000,209 ratings.

    Raises:
      DataFormatError: as :func:`load_ml100k`, and for an unknown genre name or occupation code.
    """
    directory = _expect_files(directory, ("ratings.dat", "users.dat", "movies.dat"), "ml-1m.zip")

    user_path = directory / "users.dat"

    def parse_user(number: int, fields: list[str]) -> dict:
        code = _to_int(user_path, number, "Occupation", fields[3])
        if not 0 <= code < len(ML1M_OCCUPATIONS):
            raise DataFormatError(
                user_path, f"occupation code must be in 0..20, got {code}", line=number
            )
        return {
            "gender": fields[1],
            "age": _to_int(user_path, number, "Age", fields[2]),
            "occupation": ML1M_OCCUPATIONS[code],
            "zip": fields[4],
        }

    user_index, user_rows, _ = _parse_side_file(
        user_path, "ascii", "::", 5, _USERS_DAT_LAYOUT, "user", parse_user
    )

    item_path = directory / "movies.dat"
    genre_column = {name: g for g, name in enumerate(ML1M_GENRES)}
    genres: list[list[bool]] = []

    def parse_item(number: int, fields: list[str]) -> dict:
        flags = [False] * len(ML1M_GENRES)
        for name in filter(None, fields[2].split("|")):
            if name not in genre_column:
                raise DataFormatError(
                    item_path,
                    f"unknown genre {name!r}; expected one of {', '.join(ML1M_GENRES)}",
                    line=number,
                )
            flags[genre_column[name]] = True
        genres.append(flags)
        return {"title": fields[1], "year": _year("", fields[1])}

    item_index, item_rows, _ = _parse_side_file(
        item_path, "latin-1", "::", 3, _MOVIES_DAT_LAYOUT, "item", parse_item
    )

    ratings = _read_ratings(
        directory / "ratings.dat", "::", _RATINGS_DAT_LAYOUT, user_index, item_index
    )
    return _finish(
        "ml-1m", ratings, user_index, user_rows, item_index, item_rows, genres, ML1M_GENRES
    )
