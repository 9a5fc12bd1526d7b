"""E-commerce impression logs (impressions, clicks, purchases, prices) for CTR-vs-GMV training.

A log is a set of **lists**: each list is one user's page of ``L`` shown items (one search query or
recommendation request). Every impression carries a click, a purchase (purchases imply clicks) and
the item's price. Impressions are FM samples over the fields ``user, item, category, price_bucket``
(global row ids, see :mod:`jaxrec.data.features`).

**Synthetic generator** (:func:`synthetic_ecommerce`): CTR and GMV conflict by construction, as in
the PE-LTR paper's motivation (Lin et al. 2019): cheap items and "clickbait" items (a hidden item
trait) are clicked more but converted less, expensive items are clicked and bought less often, yet
``price x P(buy)`` still grows with price. Per impression of item i to user u,

    click logit = a + <x_u, y_i> - kappa_c * z(log p_i) + lambda * bait_i + n_i
    buy logit   = b + <x_u, y_i> - kappa_b * z(log p_i) - lambda * bait_i

with ``z`` the standardised log price, so ranking by click probability and ranking by expected GMV
disagree. The true logits are returned, so tests can check the conflict against an oracle.

**DIGINETICA loader** (:func:`load_diginetica`): the CIKM Cup 2016 personalised e-commerce search
files (semicolon-separated, with a header line): ``train-queries.csv`` (the shown items of each query
in its ``items`` column), ``train-clicks.csv``, ``train-purchases.csv``, ``products.csv``
(``pricelog2``: the price is ``2**pricelog2``) and ``product-categories.csv``. An impression is a
(query, shown item) pair; it is clicked when the clicks file lists that item for that query, and
purchased when the query's session bought the item. Queries keep their first ``list_length`` items
(shorter lists are padded and masked).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.data.features import encode_fields
from jaxrec.errors import ConfigError, DataFormatError

FIELD_NAMES: tuple[str, ...] = ("user", "item", "category", "price_bucket")
N_PRICE_BUCKETS = 10


@dataclass(frozen=True, eq=False)
class EcommerceLog:
    """Impressions grouped into ``S`` lists of ``L`` slots.

    Attributes:
      feature_ids: i32[S, L, 4] global FM row ids of (user, item, category, price bucket).
      clicks: f32[S, L] 1 where the impression was clicked.
      purchases: f32[S, L] 1 where it was bought (always clicked too).
      prices: f32[S, L] item price (> 0 on real slots).
      mask: bool[S, L] real slots (False on padding).
      click_logits, purchase_logits: optional f32[S, L] true logits (synthetic data only); the
        purchase logit is conditional on a click.
    """

    feature_ids: np.ndarray
    clicks: np.ndarray
    purchases: np.ndarray
    prices: np.ndarray
    mask: np.ndarray
    click_logits: np.ndarray | None = None
    purchase_logits: np.ndarray | None = None

    def __len__(self) -> int:
        return self.clicks.shape[0]

    def take(self, rows: np.ndarray) -> EcommerceLog:
        """The lists at ``rows`` (every array indexed along its first axis)."""
        pick = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in (
                "feature_ids",
                "clicks",
                "purchases",
                "prices",
                "mask",
                "click_logits",
                "purchase_logits",
            )
        }
        return replace(self, **pick)


@dataclass(frozen=True, eq=False)
class EcommerceData:
    """Train and test lists sharing one FM feature table of ``sum(field_sizes)`` rows.

    ``catalogue`` (optional i32[M, F - 1]): the non-user FM rows of every candidate item, for
    objectives that rank the whole catalogue for a user (the exposure objective of
    :mod:`jaxrec.pareto.objectives`); field 0 of ``feature_ids`` must then be the user.
    """

    name: str
    field_sizes: tuple[int, ...]
    train: EcommerceLog
    test: EcommerceLog
    field_names: tuple[str, ...] = FIELD_NAMES
    catalogue: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(sum(self.field_sizes))


def _price_buckets(log_prices: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Decile of each log price among ``reference`` log prices, in ``0..N_PRICE_BUCKETS-1``."""
    edges = np.quantile(reference, np.linspace(0, 1, N_PRICE_BUCKETS + 1)[1:-1])
    return np.searchsorted(edges, log_prices, side="right")


def _split(log: EcommerceLog, test_fraction: float, seed: int) -> tuple[EcommerceLog, EcommerceLog]:
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError("test_fraction", f"must lie in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(log))
    n_test = max(1, round(test_fraction * len(log)))
    return log.take(np.sort(order[n_test:])), log.take(np.sort(order[:n_test]))


def synthetic_ecommerce(
    n_lists: int = 4000,
    list_length: int = 10,
    n_users: int = 500,
    n_items: int = 400,
    n_categories: int = 20,
    dim: int = 4,
    click_bias: float = -1.5,
    buy_bias: float = -1.0,
    click_price_slope: float = 0.6,
    buy_price_slope: float = 0.3,
    bait_strength: float = 1.5,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> EcommerceData:
    """Generate an impression log where CTR and GMV conflict (see the module docstring).

    Args:
      n_lists: number of lists (pages); each shows ``list_length`` distinct items.
      n_users, n_items, n_categories: population and catalogue sizes.
      dim: latent dimension of the user-item affinity ``<x_u, y_i>`` (entries N(0, 1/dim)).
      click_bias, buy_bias: intercepts ``a`` and ``b``.
      click_price_slope, buy_price_slope: ``kappa_c``, ``kappa_b``: how much a standard deviation
        of log price lowers the click and the conversion logit.
      bait_strength: ``lambda``, how much the hidden clickbait trait raises clicks and lowers
        conversion.
      test_fraction: share of lists held out for testing.
      seed: NumPy seed; the same seed gives the same data.
    """
    for name, value in (
        ("n_lists", n_lists),
        ("list_length", list_length),
        ("n_users", n_users),
        ("n_categories", n_categories),
        ("dim", dim),
    ):
        if value < 1:
            raise ConfigError(name, f"must be >= 1, got {value}")
    if n_items < list_length:
        raise ConfigError("n_items", f"must be >= list_length ({list_length}), got {n_items}")
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(0, dim**-0.5, (n_users, dim))
    item_factors = rng.normal(0, dim**-0.5, (n_items, dim))
    category = rng.integers(0, n_categories, n_items)
    # Categories differ in price level; items scatter around their category's level.
    log_price = rng.normal(3.0, 0.6, n_categories)[category] + rng.normal(0, 0.5, n_items)
    z_price = (log_price - log_price.mean()) / log_price.std()
    bait = rng.normal(0, 1, n_items)
    item_click = -click_price_slope * z_price + bait_strength * bait + rng.normal(0, 0.3, n_items)
    item_buy = -buy_price_slope * z_price - bait_strength * bait

    users = rng.integers(0, n_users, n_lists)
    items = np.argsort(rng.random((n_lists, n_items)), axis=1)[:, :list_length]
    affinity = np.einsum("sd,sld->sl", user_factors[users], item_factors[items]) * 2.0
    click_logits = click_bias + affinity + item_click[items]
    purchase_logits = buy_bias + affinity + item_buy[items]
    clicks = rng.random(click_logits.shape) < 1 / (1 + np.exp(-click_logits))
    purchases = clicks & (rng.random(click_logits.shape) < 1 / (1 + np.exp(-purchase_logits)))

    codes = np.stack(
        [
            np.broadcast_to(users[:, None], items.shape),
            items,
            category[items],
            _price_buckets(log_price, log_price)[items],
        ],
        axis=-1,
    ).reshape(-1, len(FIELD_NAMES))
    field_sizes = (n_users, n_items, n_categories, N_PRICE_BUCKETS)
    log = EcommerceLog(
        feature_ids=encode_fields(codes, field_sizes).reshape(n_lists, list_length, -1),
        clicks=clicks.astype(np.float32),
        purchases=purchases.astype(np.float32),
        prices=np.exp(log_price)[items].astype(np.float32),
        mask=np.ones(items.shape, bool),
        click_logits=click_logits.astype(np.float32),
        purchase_logits=purchase_logits.astype(np.float32),
    )
    train, test = _split(log, test_fraction, seed)
    return EcommerceData("synthetic-ecommerce", field_sizes, train, test)


# --- DIGINETICA -------------------------------------------------------------------------------

DIGINETICA_FILES: dict[str, tuple[str, ...]] = {
    "train-queries.csv": ("queryId", "sessionId", "userId", "items"),
    "train-clicks.csv": ("queryId", "itemId"),
    "train-purchases.csv": ("sessionId", "itemId"),
    "products.csv": ("itemId", "pricelog2"),
    "product-categories.csv": ("itemId", "categoryId"),
}


def _read_table(directory: Path, name: str) -> pd.DataFrame:
    path = directory / name
    if not path.is_file():
        raise DataFormatError(
            path, f"missing; a DIGINETICA directory needs {', '.join(DIGINETICA_FILES)}"
        )
    try:
        frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"not a semicolon-separated table: {err}") from err
    missing = [c for c in DIGINETICA_FILES[name] if c not in frame.columns]
    if missing:
        raise DataFormatError(
            path,
            f"header lacks column(s) {', '.join(missing)} (found: {';'.join(frame.columns)})",
            line=1,
        )
    return frame


def _numbers(frame: pd.DataFrame, column: str, path: Path, kind: type) -> np.ndarray:
    """Parse a column as int or float; a bad cell raises DataFormatError with its line number."""
    parsed = pd.to_numeric(frame[column], errors="coerce")
    bad = parsed.isna().to_numpy()
    if kind is int:
        bad = bad | ~np.isclose(parsed.fillna(0).to_numpy() % 1, 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataFormatError(
            path,
            f"column {column!r}: expected a number, got {frame[column].iloc[row]!r}",
            line=row + 2,  # 1-based, after the header line
        )
    return parsed.to_numpy().astype(np.int64 if kind is int else np.float64)


def load_diginetica(
    directory: str | Path, list_length: int = 10, test_fraction: float = 0.25, seed: int = 0
) -> EcommerceData:
    """Read DIGINETICA-style CSVs (see the module docstring) into train/test lists.

    Users with no id (anonymous sessions) share one "unknown user" row; items shown but absent
    from ``products.csv`` raise DataFormatError naming the query's line.

    Args:
      directory: folder holding the five files.
      list_length: slots per list; longer queries are cut, shorter ones padded and masked.
      test_fraction: share of queries held out; seed: the split's seed.
    """
    if list_length < 1:
        raise ConfigError("list_length", f"must be >= 1, got {list_length}")
    directory = Path(directory)
    tables = {name: _read_table(directory, name) for name in DIGINETICA_FILES}
    paths = {name: directory / name for name in DIGINETICA_FILES}

    products = tables["products.csv"]
    product_ids = _numbers(products, "itemId", paths["products.csv"], int)
    prices = np.exp2(_numbers(products, "pricelog2", paths["products.csv"], float))
    item_code = {item: code for code, item in enumerate(product_ids)}
    categories = tables["product-categories.csv"]
    category_of = dict(
        zip(
            _numbers(categories, "itemId", paths["product-categories.csv"], int),
            _numbers(categories, "categoryId", paths["product-categories.csv"], int),
            strict=True,
        )
    )
    category_values = sorted(set(category_of.values()))
    category_code = {value: code + 1 for code, value in enumerate(category_values)}  # 0 = unknown
    item_category = np.array([category_code.get(category_of.get(i, -1), 0) for i in product_ids])
    log_prices = np.log(prices)
    item_bucket = _price_buckets(log_prices, log_prices)

    queries = tables["train-queries.csv"]
    query_path = paths["train-queries.csv"]
    query_ids = _numbers(queries, "queryId", query_path, int)
    session_ids = _numbers(queries, "sessionId", query_path, int)
    user_raw = queries["userId"].str.strip().to_numpy()
    known_users = sorted({u for u in user_raw if u not in ("", "NA")})
    user_code = {u: code + 1 for code, u in enumerate(known_users)}  # 0 = anonymous

    clicks_frame = tables["train-clicks.csv"]
    clicked = set(
        zip(
            _numbers(clicks_frame, "queryId", paths["train-clicks.csv"], int),
            _numbers(clicks_frame, "itemId", paths["train-clicks.csv"], int),
            strict=True,
        )
    )
    purchases_frame = tables["train-purchases.csv"]
    bought = set(
        zip(
            _numbers(purchases_frame, "sessionId", paths["train-purchases.csv"], int),
            _numbers(purchases_frame, "itemId", paths["train-purchases.csv"], int),
            strict=True,
        )
    )

    n_lists = len(queries)
    items = np.zeros((n_lists, list_length), np.int64)
    mask = np.zeros((n_lists, list_length), bool)
    click = np.zeros((n_lists, list_length), np.float32)
    purchase = np.zeros((n_lists, list_length), np.float32)
    for row, (query, session, shown) in enumerate(
        zip(query_ids, session_ids, queries["items"].to_numpy(), strict=True)
    ):
        tokens = [t.strip() for t in str(shown).split(",") if t.strip()]
        if not tokens:
            raise DataFormatError(query_path, "column 'items': empty list of shown items", row + 2)
        for slot, token in enumerate(tokens[:list_length]):
            if not token.isdigit() or int(token) not in item_code:
                raise DataFormatError(
                    query_path,
                    f"column 'items': item {token!r} is not an item id of products.csv",
                    line=row + 2,
                )
            item = int(token)
            items[row, slot] = item_code[item]
            mask[row, slot] = True
            is_bought = (session, item) in bought
            # A purchase implies a click, even when the click was logged in another query.
            click[row, slot] = float((query, item) in clicked or is_bought)
            purchase[row, slot] = float(is_bought)

    users = np.array([user_code.get(u, 0) for u in user_raw])
    codes = np.stack(
        [
            np.broadcast_to(users[:, None], items.shape),
            items,
            item_category[items],
            item_bucket[items],
        ],
        axis=-1,
    ).reshape(-1, len(FIELD_NAMES))
    field_sizes = (
        len(known_users) + 1,
        len(product_ids),
        len(category_values) + 1,
        N_PRICE_BUCKETS,
    )
    log = EcommerceLog(
        feature_ids=encode_fields(codes, field_sizes).reshape(n_lists, list_length, -1),
        clicks=click,
        purchases=purchase,
        prices=np.where(mask, prices[items], 0.0).astype(np.float32),
        mask=mask,
    )
    train, test = _split(log, test_fraction, seed)
    return EcommerceData("diginetica", field_sizes, train, test)
