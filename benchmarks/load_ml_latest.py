"""Seconds to load a MovieLens "latest"-format folder of ml-32m's size (a file generated here).

Usage: python benchmarks/load_ml_latest.py [--ratings 32000000] [--users 200948] [--movies 87585]
       [--dir DIR] [--json PATH]
Writes ``ratings.csv`` and ``movies.csv`` in the official format into DIR (kept for reruns; default
a folder under the system's temp dir), times ``jaxrec.data.movielens_latest.load_ml_latest`` on them,
prints a table and writes JSON (default load_ml_latest.json). The sizes default to ml-32m's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from jaxrec.data.movielens_latest import load_ml_latest
from jaxrec.io import write_json

GENRES = ("Action", "Comedy", "Drama", "Sci-Fi", "Thriller", "Romance", "(no genres listed)")


def write_folder(directory: Path, n_ratings: int, n_users: int, n_movies: int) -> None:
    """A latest-format folder: sparse movie ids, quoted titles with a year, half-star ratings."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    movie_ids = np.sort(rng.choice(3 * n_movies, n_movies, replace=False)) + 1
    titles = [f'"Movie {i}, The ({1900 + i % 120})"' for i in range(n_movies)]
    genres = [GENRES[i % len(GENRES)] for i in range(n_movies)]
    lines = ["movieId,title,genres"]
    lines += [f"{m},{t},{g}" for m, t, g in zip(movie_ids, titles, genres, strict=True)]
    (directory / "movies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = pa.table(
        {
            "userId": rng.integers(1, n_users + 1, n_ratings),
            "movieId": movie_ids[rng.zipf(1.3, n_ratings) % n_movies],
            "rating": rng.integers(1, 11, n_ratings) / 2,
            "timestamp": rng.integers(8 * 10**8, 17 * 10**8, n_ratings),
        }
    )
    options = pacsv.WriteOptions(quoting_style="none")
    pacsv.write_csv(table, directory / "ratings.csv", write_options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=32_000_204)
    parser.add_argument("--users", type=int, default=200_948)
    parser.add_argument("--movies", type=int, default=87_585)
    parser.add_argument("--dir", help="folder for the generated files (reused when present)")
    parser.add_argument("--json", default="load_ml_latest.json")
    args = parser.parse_args()
    directory = Path(args.dir or Path(tempfile.gettempdir()) / f"jaxrec-ml-latest-{args.ratings}")
    if not (directory / "ratings.csv").is_file():
        start = time.perf_counter()
        write_folder(directory, args.ratings, args.users, args.movies)
        print(f"wrote {directory} in {time.perf_counter() - start:.1f} s")
    size = (directory / "ratings.csv").stat().st_size
    start = time.perf_counter()
    data = load_ml_latest(directory)
    seconds = time.perf_counter() - start
    record = {
        "benchmark": "load_ml_latest",
        "ratings": len(data.ratings),
        "users": data.n_users,
        "items": data.n_items,
        "ratings_csv_bytes": size,
        "seconds": seconds,
        "ratings_per_s": len(data.ratings) / seconds,
    }
    print(f"{'ratings':>12} {'MB':>8} {'seconds':>8} {'ratings/s':>12}")
    print(
        f"{record['ratings']:>12,} {size / 1e6:>8.0f} {seconds:>8.1f} {record['ratings_per_s']:>12,.0f}"
    )
    write_json(args.json, record)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
