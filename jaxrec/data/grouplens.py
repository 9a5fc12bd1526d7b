"""Reading the GroupLens MovieLens text files: the directory check, decoding, splitting lines into
fields, integer fields, renumbering raw ids, a user or item file, and the ratings parse.

Shared by the ML-100K / ML-1M loaders (:mod:`jaxrec.data.movielens`) and the "latest" loader
(:mod:`jaxrec.data.movielens_latest`). Every problem raises :class:`~jaxrec.errors.DataFormatError`
naming the file and, where it can, the 1-based line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.errors import DataFormatError

DOWNLOAD_HINT = (
    "MovieLens is not shipped with jaxrec; download {archive} from "
    "https://grouplens.org/datasets/movielens/, unzip it and pass the unzipped directory"
)

_RATING_COLUMNS = ("user", "item", "rating", "timestamp")
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


# --------------------------------------------------------------------------------------------------
# Reading and splitting lines
# --------------------------------------------------------------------------------------------------


def _expect_files(directory: str | Path, names: Sequence[str], archive: str) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError(
            directory,
            f"directory not found; it should hold {', '.join(names)}. "
            + DOWNLOAD_HINT.format(archive=archive),
        )
    for name in names:
        if not (directory / name).is_file():
            raise DataFormatError(
                directory / name,
                f"file not found; expected {', '.join(names)} in {directory}. "
                + DOWNLOAD_HINT.format(archive=archive),
            )
    return directory


def _decode(path: Path, encoding: str) -> str:
    """Read ``path`` as text in ``encoding`` ("ascii" or "latin-1"), naming the line of a bad byte.

    Latin-1 maps every byte to a character, so for latin-1 files a valid non-ASCII UTF-8 file (a
    re-encoded copy) is accepted as UTF-8; NUL bytes (UTF-16, archives, binary files) are rejected.
    """
    raw = path.read_bytes()
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataFormatError(
            path,
            f"contains NUL bytes; expected {encoding} text (is it UTF-16, compressed or binary?)",
            line=raw.count(b"\n", 0, nul) + 1,
        )
    if encoding == "latin-1":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataFormatError(
            path,
            f"byte 0x{raw[err.start]:02x} is not valid {encoding}; "
            f"expected the official {encoding} MovieLens file",
            line=raw.count(b"\n", 0, err.start) + 1,
        ) from None


def _split_lines(
    path: Path, text: str, sep: str, n_fields: int, layout: str
) -> list[tuple[int, list[str]]]:
    """Split non-blank lines into exactly ``n_fields`` fields; return (1-based line, fields) pairs."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != n_fields:
            raise DataFormatError(
                path,
                f"expected {n_fields} fields separated by {sep!r} ({layout}), got {len(fields)}",
                line=number,
            )
        rows.append((number, fields))
    return rows


def _to_int(path: Path, number: int, field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataFormatError(
            path, f"field {field!r} must be an integer, got {value!r}", line=number
        ) from None


def _raw_id_index(path: Path, numbered_ids: list[tuple[int, int]], what: str) -> dict[int, int]:
    """Map raw ids (given with their line numbers) to 0-based ids in increasing raw-id order."""
    seen: dict[int, int] = {}
    for number, raw in numbered_ids:
        if raw in seen:
            raise DataFormatError(
                path, f"duplicate {what} id {raw} (first on line {seen[raw]})", line=number
            )
        seen[raw] = number
    return {raw: new for new, raw in enumerate(sorted(seen))}


# --------------------------------------------------------------------------------------------------
# Ratings: a fast pandas parse, and a line-by-line diagnosis when anything is off
# --------------------------------------------------------------------------------------------------


def _read_ratings(
    path: Path, sep: str, layout: str, user_index: dict[int, int], item_index: dict[int, int]
) -> pd.DataFrame:
    """Parse a 4-column integer ratings file into 0-based ids.

    The C parser handles the common case fast (ML-1M has a million lines); if it fails or any value is
    out of range, :func:`_diagnose_ratings` walks the lines to report the first bad one.
    """
    text = _decode(path, "ascii")
    try:
        table = pd.read_csv(
            io.StringIO(text.replace(sep, "\t")),
            sep="\t",
            header=None,
            names=list(_RATING_COLUMNS),
            dtype=np.int64,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError):
        table = None
    if table is not None and len(table):
        users = table["user"].map(user_index)
        items = table["item"].map(item_index)
        ratings_ok = table["rating"].between(1, 5).all()
        if ratings_ok and not users.isna().any() and not items.isna().any():
            return pd.DataFrame(
                {
                    "user": users.to_numpy(np.int32),
                    "item": items.to_numpy(np.int32),
                    "rating": table["rating"].to_numpy(np.int32),
                    "timestamp": table["timestamp"].to_numpy(np.int64),
                }
            )
    _diagnose_ratings(path, text, sep, layout, user_index, item_index)
    raise DataFormatError(path, f"could not be parsed as {layout}")


def _diagnose_ratings(
    path: Path,
    text: str,
    sep: str,
    layout: str,
    user_index: dict[int, int],
    item_index: dict[int, int],
) -> None:
    """Raise :class:`DataFormatError` at the first line of a ratings file that is not valid."""
    if not text.strip():
        raise DataFormatError(path, f"file is empty; expected lines of {layout}")
    for number, fields in _split_lines(path, text, sep, 4, layout):
        user, item, rating, _ = (
            _to_int(path, number, name, value)
            for name, value in zip(_RATING_COLUMNS, fields, strict=True)
        )
        if not 1 <= rating <= 5:
            raise DataFormatError(path, f"rating must be in 1..5, got {rating}", line=number)
        if user not in user_index:
            raise DataFormatError(path, f"user id {user} is not in the user file", line=number)
        if item not in item_index:
            raise DataFormatError(path, f"item id {item} is not in the item file", line=number)


def _parse_side_file(
    path: Path,
    encoding: str,
    sep: str,
    n_fields: int,
    layout: str,
    what: str,
    parse_row: Callable[[int, list[str]], dict],
) -> tuple[dict[int, int], list[dict], list[tuple[int, list[str]]]]:
    """Read a user or item file whose first field is the raw id; number ids from 0 in raw order."""
    rows = _split_lines(path, _decode(path, encoding), sep, n_fields, layout)
    if not rows:
        raise DataFormatError(path, f"file is empty; expected lines of {layout}")
    numbered_ids = [(number, _to_int(path, number, f"{what} id", f[0])) for number, f in rows]
    index = _raw_id_index(path, numbered_ids, what)
    parsed = [
        {what: index[raw], **parse_row(number, fields)}
        for (number, raw), (_, fields) in zip(numbered_ids, rows, strict=True)
    ]
    return index, parsed, rows
