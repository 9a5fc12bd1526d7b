"""jaxrec.data: worlds (synthetic or fitted from MovieLens), MovieLens loaders and splits."""

from jaxrec.data.movielens import MovieLensData, load_ml1m, load_ml100k
from jaxrec.data.world import World

__all__ = ["MovieLensData", "World", "load_ml1m", "load_ml100k"]
