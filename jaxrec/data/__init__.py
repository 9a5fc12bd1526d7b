"""jaxrec.data: worlds (synthetic or fitted from MovieLens), MovieLens loaders and splits."""

from jaxrec.data.movielens import MovieLensData, load_ml1m, load_ml100k
from jaxrec.data.splits import FCPOSplit, fcpo_split, popular_group_pivot
from jaxrec.data.synthetic import SyntheticWorldConfig, synthetic_world
from jaxrec.data.world import World

__all__ = [
    "FCPOSplit",
    "MovieLensData",
    "SyntheticWorldConfig",
    "World",
    "fcpo_split",
    "load_ml1m",
    "load_ml100k",
    "popular_group_pivot",
    "synthetic_world",
]
