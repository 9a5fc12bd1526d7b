"""Synthetic e-commerce generator (the CTR/GMV conflict) and the DIGINETICA-style loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxrec.data.ecommerce import load_diginetica, synthetic_ecommerce
from jaxrec.errors import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def data():
    return synthetic_ecommerce(n_lists=3000, seed=3)


def numpy_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def numpy_g_ndcg(scores: np.ndarray, gains: np.ndarray) -> float:
    order = np.argsort(-scores, axis=1)
    discount = 1 / np.log2(np.arange(2, gains.shape[1] + 2))
    dcg = (np.take_along_axis(gains, order, 1) * discount).sum(1)
    ideal = (-np.sort(-gains, axis=1) * discount).sum(1)
    return float((dcg[ideal > 0] / ideal[ideal > 0]).mean())


def test_synthetic_log_is_consistent(data) -> None:
    log = data.train
    s, length, fields = log.feature_ids.shape
    assert fields == 4 and len(data.test) == 750 and s == 2250
    assert np.all(log.purchases <= log.clicks)
    assert np.all(log.prices > 0) and log.mask.all()
    starts = np.concatenate([[0], np.cumsum(data.field_sizes)[:-1]])
    for f in range(fields):  # every id inside its own field's rows
        ids = log.feature_ids[..., f]
        assert ids.min() >= starts[f] and ids.max() < starts[f] + data.field_sizes[f]
    assert all(
        len(set(row)) == length for row in log.feature_ids[..., 1]
    )  # distinct items per list
    assert 0.1 < log.clicks.mean() < 0.5 and 0.02 < log.purchases.mean() < 0.2
    again = synthetic_ecommerce(n_lists=3000, seed=3)
    np.testing.assert_array_equal(again.train.clicks, log.clicks)


def test_ctr_and_gmv_conflict_by_construction(data) -> None:
    """The click-optimal oracle loses on GMV ranking and the purchase-value oracle loses on CTR."""
    log = data.test
    click_p = 1 / (1 + np.exp(-log.click_logits))
    value = click_p / (1 + np.exp(-log.purchase_logits)) * log.prices
    gains = log.purchases * log.prices
    auc_by_click = numpy_auc(log.clicks.ravel(), click_p.ravel())
    auc_by_value = numpy_auc(log.clicks.ravel(), value.ravel())
    assert auc_by_click > auc_by_value + 0.1
    assert numpy_g_ndcg(value, gains) > numpy_g_ndcg(click_p, gains) + 0.03
    # cheap items are clicked more, expensive ones bought less often per click
    log_price = np.log(log.prices.ravel())
    assert np.corrcoef(log_price, click_p.ravel())[0, 1] < -0.1
    assert np.corrcoef(log_price, log.purchase_logits.ravel())[0, 1] < 0


def test_synthetic_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match=r"^n_items"):
        synthetic_ecommerce(n_items=5, list_length=10)
    with pytest.raises(ConfigError, match=r"^test_fraction"):
        synthetic_ecommerce(n_lists=10, test_fraction=1.0)


FILES = {
    "train-queries.csv": [
        "queryId;sessionId;userId;timeframe;duration;eventdate;searchstring.tokens;categoryId;items;is.test",
        "1;10;7;0;100;2016-05-01;5,6;;100,101,102;FALSE",
        "2;11;NA;0;80;2016-05-01;;3;102,103;FALSE",
        "3;12;8;0;90;2016-05-02;7;;103,100,101,102;FALSE",
        "4;10;7;5;60;2016-05-01;5;;101,103;FALSE",
    ],
    "train-clicks.csv": ["queryId;timeframe;itemId", "1;5;101", "3;9;100", "4;1;103"],
    "train-purchases.csv": [
        "sessionId;userId;timeframe;eventdate;ordernumber;itemId",
        "10;7;20;2016-05-01;1;103",
        "12;8;30;2016-05-02;2;100",
    ],
    "products.csv": [
        "itemId;pricelog2;product.name.tokens",
        "100;3;1,2",
        "101;5;3",
        "102;8;4",
        "103;10;5",
    ],
    "product-categories.csv": ["itemId;categoryId", "100;1", "101;1", "102;2"],
}


def write_files(directory: Path, overrides: dict[str, list[str]] | None = None) -> Path:
    for name, lines in {**FILES, **(overrides or {})}.items():
        (directory / name).write_text("\n".join(lines) + "\n")
    return directory


def test_diginetica_loader_labels_impressions(tmp_path: Path) -> None:
    data = load_diginetica(write_files(tmp_path), list_length=3, test_fraction=0.25, seed=0)
    log = data.train
    both = {
        "clicks": np.concatenate([data.train.clicks, data.test.clicks]),
        "purchases": np.concatenate([data.train.purchases, data.test.purchases]),
        "mask": np.concatenate([data.train.mask, data.test.mask]),
        "prices": np.concatenate([data.train.prices, data.test.prices]),
        "items": np.concatenate([data.train.feature_ids, data.test.feature_ids])[..., 1],
    }
    assert data.field_sizes == (
        3,
        4,
        3,
        10,
    )  # users: anonymous + {7, 8}; categories: unknown + {1, 2}
    assert log.feature_ids.shape[1:] == (3, 4) and len(data.test) == 1
    # Reassemble by the first item and list length, which identify every query here.
    offset = data.field_sizes[0]
    by_key = {
        (int(items[0]) - offset, int(mask.sum())): (clicks, purchases, prices)
        for items, mask, clicks, purchases, prices in zip(
            both["items"],
            both["mask"],
            both["clicks"],
            both["purchases"],
            both["prices"],
            strict=True,
        )
    }
    clicks, purchases, prices = by_key[(0, 3)]  # query 1: items 100, 101, 102
    np.testing.assert_array_equal(clicks, [0, 1, 0])
    np.testing.assert_array_equal(purchases, [0, 0, 0])
    np.testing.assert_allclose(prices, [8, 32, 256])
    clicks, purchases, _ = by_key[(3, 3)]  # query 3 cut to 103, 100, 101; session 12 bought 100
    np.testing.assert_array_equal(clicks, [0, 1, 0])
    np.testing.assert_array_equal(purchases, [0, 1, 0])
    clicks, purchases, prices = by_key[(1, 2)]  # query 4, session 10 bought 103
    np.testing.assert_array_equal(clicks, [0, 1, 0])
    np.testing.assert_array_equal(purchases, [0, 1, 0])
    assert prices[2] == 0  # padding


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"products.csv": ["itemId;price", "100;3"]},
            r"products\.csv:1: header lacks column\(s\) pricelog2",
        ),
        (
            {"products.csv": ["itemId;pricelog2", "100;3", "101;cheap"]},
            r"products\.csv:3: column 'pricelog2'",
        ),
        (
            {
                "train-queries.csv": [
                    *FILES["train-queries.csv"][:2],
                    "2;11;NA;0;80;x;;3;102,999;FALSE",
                ]
            },
            r"train-queries\.csv:3: column 'items': item '999'",
        ),
    ],
)
def test_diginetica_errors_name_file_and_line(tmp_path: Path, overrides, expected: str) -> None:
    with pytest.raises(DataFormatError, match=expected):
        load_diginetica(write_files(tmp_path, overrides))


def test_diginetica_missing_file(tmp_path: Path) -> None:
    write_files(tmp_path)
    (tmp_path / "train-clicks.csv").unlink()
    with pytest.raises(DataFormatError, match=r"train-clicks\.csv: missing"):
        load_diginetica(tmp_path)
