"""jaxrec.data: worlds (synthetic or fitted from MovieLens), MovieLens loaders and splits."""

from jaxrec.data.movielens import MovieLensData, load_ml1m, load_ml100k
from jaxrec.data.synthetic import SyntheticWorldConfig, synthetic_world
from jaxrec.data.world import World

__all__ = [
    "MovieLensData",
    "SyntheticWorldConfig",
    "World",
    "load_ml1m",
    "load_ml100k",
    "synthetic_world",
]
