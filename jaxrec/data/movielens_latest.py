"""Loader for the MovieLens "latest" CSV format (ml-latest-small, ml-latest, ml-25m, ml-32m).

``ratings.csv``: header ``userId,movieId,rating,timestamp``, ratings 0.5-5.0 in half stars.
``movies.csv``: header ``movieId,title,genres``; titles may be quoted and contain commas, most end in
``(YYYY)`` (the release year), genres are ``|``-separated or ``(no genres listed)``. Both UTF-8.
There is no user file: users are the ``userId`` values that rate something, numbered by increasing
raw id, and the returned users table has only the ``user`` column (no demographics).

``ratings.csv`` is read by pyarrow's multi-threaded CSV reader with explicit column types (ml-32m's
32 million rows in seconds) and checked with vectorised tests; if the reader fails or a value is
wrong, a streaming pass over the lines finds the first bad line and raises
:class:`~jaxrec.errors.DataFormatError` naming the file and the line, as the other loaders do.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.data.grouplens import _YEAR_IN_TITLE, _expect_files, _raw_id_index, _to_int
from jaxrec.data.movielens import MovieLensData
from jaxrec.errors import DataFormatError

RATINGS_HEADER = ("userId", "movieId", "rating", "timestamp")
MOVIES_HEADER = ("movieId", "title", "genres")
NO_GENRES = "(no genres listed)"
_ARCHIVE = "ml-latest-small.zip (or ml-32m.zip)"


def _check_header(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
    if tuple(field.strip().strip('"') for field in found) != expected:
        raise DataFormatError(
            path, f"expected the header {','.join(expected)}, got {','.join(found)!r}", line=1
        )


def _read_movies(path: Path) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, tuple[str, ...]]:
    """Raw ids (sorted), items table, genre flags bool[I, G] and genre names of ``movies.csv``."""
    rows: list[tuple[int, int, str, list[str]]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DataFormatError(path, "file is empty; expected movieId,title,genres")
            _check_header(path, header, MOVIES_HEADER)
            for fields in reader:
                number = reader.line_num
                if not fields:
                    continue
                if len(fields) != 3:
                    raise DataFormatError(
                        path,
                        f"expected 3 comma-separated fields (movieId,title,genres; quote titles "
                        f"with commas), got {len(fields)}",
                        line=number,
                    )
                raw = _to_int(path, number, "movieId", fields[0])
                rows.append((number, raw, fields[1], fields[2].split("|")))
        except UnicodeDecodeError:
            raise DataFormatError(
                path, "is not valid UTF-8; expected the official file", line=reader.line_num + 1
            ) from None
    if not rows:
        raise DataFormatError(path, "has no movies; expected lines of movieId,title,genres")
    index = _raw_id_index(path, [(number, raw) for number, raw, _, _ in rows], "movie")
    order = np.argsort([index[raw] for _, raw, _, _ in rows])
    names = sorted({g for *_, genres in rows for g in genres} - {NO_GENRES})
    genre_names = (NO_GENRES, *names)
    column = {name: g for g, name in enumerate(genre_names)}
    flags = np.zeros((len(rows), len(genre_names)), bool)
    for r, (_, _, _, genres) in enumerate(rows):
        flags[r, [column[g] for g in genres]] = True
    titles = [title for _, _, title, _ in rows]
    years = [int(m.group(1)) if (m := _YEAR_IN_TITLE.search(t)) else -1 for t in titles]
    items = pd.DataFrame(
        {"item": np.arange(len(rows), dtype=np.int32), "title": np.asarray(titles)[order],
         "year": np.asarray(years)[order]}
    )  # fmt: skip
    raw_ids = np.asarray([raw for _, raw, _, _ in rows], np.int64)[order]
    return raw_ids, items, flags[order], genre_names


def _valid_rating(rating: np.ndarray) -> np.ndarray:
    """Half stars from 0.5 to 5.0."""
    doubled = rating * 2
    return (doubled == np.round(doubled)) & (doubled >= 1) & (doubled <= 10)


def _known(raw_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in the sorted ``raw_ids`` and whether it is there."""
    position = np.minimum(np.searchsorted(raw_ids, values), len(raw_ids) - 1)
    return position, raw_ids[position] == values


def _scan_ratings(path: Path, item_raw_ids: np.ndarray) -> None:
    """Stream ``ratings.csv`` line by line; raise :class:`DataFormatError` at the first bad line."""
    number = 0
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            try:
                line = raw_line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataFormatError(path, "is not valid UTF-8", line=number) from None
            fields = line.split(",")
            if number == 1:
                _check_header(path, fields, RATINGS_HEADER)
                continue
            if not line.strip():
                continue
            if len(fields) != 4:
                raise DataFormatError(
                    path, f"expected 4 fields ({','.join(RATINGS_HEADER)}), got {len(fields)}",
                    line=number,
                )  # fmt: skip
            user, item = (_to_int(path, number, RATINGS_HEADER[k], fields[k]) for k in (0, 1))
            _to_int(path, number, "timestamp", fields[3])
            try:
                rating = float(fields[2])
            except ValueError:
                rating = float("nan")
            if not _valid_rating(np.asarray(rating)):
                raise DataFormatError(
                    path, f"rating must be a half star in 0.5..5.0, got {fields[2]!r}", line=number
                )
            if not _known(item_raw_ids, np.asarray([item]))[1][0]:
                raise DataFormatError(path, f"movieId {item} is not in movies.csv", line=number)
            if user < 0:
                raise DataFormatError(path, f"userId must be >= 0, got {user}", line=number)
    if number <= 1:
        raise DataFormatError(
            path, "has no ratings; expected lines of userId,movieId,rating,timestamp"
        )


def _read_ratings(path: Path, item_raw_ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Ratings with 0-based ids and the sorted raw user ids; the streaming scan on any problem."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"userId": pa.int64(), "movieId": pa.int64(), "rating": pa.float64(),
             "timestamp": pa.int64()}  # fmt: skip
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
        columns = {name: table.column(name).to_numpy() for name in RATINGS_HEADER}
        ok = table.column_names == list(RATINGS_HEADER) and table.num_rows > 0
    except (pa.ArrowInvalid, KeyError):
        ok = False
    if ok:
        items, known = _known(item_raw_ids, columns["movieId"])
        ok = bool(known.all() and _valid_rating(columns["rating"]).all())
        ok = ok and bool((columns["userId"] >= 0).all())
    if not ok:
        _scan_ratings(path, item_raw_ids)
        raise DataFormatError(path, "could not be parsed as userId,movieId,rating,timestamp")
    user_raw_ids, users = np.unique(columns["userId"], return_inverse=True)
    ratings = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": items.astype(np.int32),
            "rating": columns["rating"].astype(np.float32),
            "timestamp": columns["timestamp"],
        }
    )
    return ratings, user_raw_ids


def load_ml_latest(directory: str | Path) -> MovieLensData:
    """Load a MovieLens "latest"-format directory (``ratings.csv``, ``movies.csv``).

    Items are numbered by increasing ``movieId`` over ``movies.csv``; genres are the names found in
    the file, ``(no genres listed)`` first and the rest sorted; ``year`` comes from a title ending in
    ``(YYYY)`` (else -1). Ratings keep their half stars (``rating`` float32).

    Raises:
      DataFormatError: a missing file, a wrong header, a line with the wrong number of fields, a
        non-integer id, a rating that is not a half star in 0.5..5.0, a movieId missing from
        movies.csv, a duplicate movieId, or bytes that are not UTF-8 — file and line named.
    """
    directory = _expect_files(directory, ("ratings.csv", "movies.csv"), _ARCHIVE)
    item_raw_ids, items, genres, genre_names = _read_movies(directory / "movies.csv")
    ratings, user_raw_ids = _read_ratings(directory / "ratings.csv", item_raw_ids)
    users = pd.DataFrame({"user": np.arange(len(user_raw_ids), dtype=np.int32)})
    return MovieLensData(
        ratings=ratings,
        users=users,
        items=items,
        item_genres=genres,
        genre_names=genre_names,
        user_raw_ids=user_raw_ids,
        item_raw_ids=item_raw_ids,
        name="ml-latest",
    )
