"""Tests of evidence.pool_groups: vectorised pooling equals pool() per group and metafor."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_loader import as_array, load_fixture
from test_pooling import DATASETS, FIX, METHODS, R_TESTS, assert_matches_r, dataset

import evidence.pooling
from evidence import InvalidParameterError, ValidationError, pool, pool_groups
from evidence.errors import StatisticalWarning

FIELDS = list(evidence.pooling.SCALAR_FIELDS)
NUMERIC = [f for f in FIELDS if f not in ("method", "ci_method", "level", "k", "q_df")]


def stacked() -> pd.DataFrame:
    """Every fixture dataset as one group of a long table (shuffled, so groups interleave)."""
    parts = []
    for name in DATASETS:
        y, v = dataset(name)
        parts.append(pd.DataFrame({"dataset": name, "yi": y, "vi": v}))
    data = pd.concat(parts, ignore_index=True)
    return data.sample(frac=1.0, random_state=7)


STACKED = stacked()


def _pool_groups(**kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return pool_groups(STACKED, "dataset", **kwargs)


def _pool_one(name: str, **kwargs):
    y, v = dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return pool(y, v, **kwargs)


@pytest.mark.parametrize(
    ("method", "ci_method"), list(itertools.product(METHODS, R_TESTS.values()))
)
def test_pool_groups_equals_pool_per_group(method, ci_method):
    out = _pool_groups(method=method, ci_method=ci_method)
    assert list(out["dataset"]) == sorted(DATASETS)
    for _, row in out.iterrows():
        one = _pool_one(row["dataset"], method=method, ci_method=ci_method)
        assert row["k"] == one.k and row["q_df"] == one.q_df and row["method"] == one.method
        for field in NUMERIC:
            a, b = float(row[field]), float(getattr(one, field))
            if math.isnan(b) or math.isinf(b):
                assert (math.isnan(a) and math.isnan(b)) or a == b, (row["dataset"], field)
            else:
                assert a == pytest.approx(b, rel=1e-10, abs=1e-14), (row["dataset"], field, a, b)


@pytest.mark.parametrize("r_test", list(R_TESTS))
def test_pool_groups_matches_metafor(r_test):
    by_case = {(c["dataset"], c["method"]): c for c in FIX["cases"] if c["test"] == r_test}
    for method in METHODS:
        out = _pool_groups(method=method, ci_method=R_TESTS[r_test]).set_index("dataset")
        for name in DATASETS:
            case = by_case[(name, method)]
            row = out.loc[name]
            assert row["k"] == case["k"]
            assert_matches_r(case, row.to_dict(), f"pool_groups {name} {method} {r_test}")


def test_columns_and_order():
    out = _pool_groups()
    assert list(out.columns) == ["dataset"] + FIELDS
    assert (out["method"] == "REML").all() and (out["ci_method"] == "z").all()
    assert (out["level"] == 0.95).all()


def test_several_by_columns_nan_keys_k1_and_empty_groups():
    y, v = dataset("bcg_rr")
    data = pd.DataFrame(
        {
            "stream": ["human"] * 6 + ["animal"] * 5 + [None, "animal"],
            "outcome": ["a"] * 3 + ["b"] * 3 + ["a"] * 5 + ["a", "c"],
            "yi": y,
            "vi": v,
        }
    )
    data.loc[12, "yi"] = np.nan  # the only study of group (animal, c)
    with pytest.warns(StatisticalWarning) as record:
        out = pool_groups(data, ["stream", "outcome"], method="DL")
    text = " | ".join(str(w.message) for w in record)
    assert "1 of 13 rows dropped" in text
    assert "1 group(s) have no study" in text
    assert "Only one study in 1 group" in text
    keys = list(zip(out["stream"], out["outcome"], strict=True))
    assert keys[:4] == [("animal", "a"), ("animal", "c"), ("human", "a"), ("human", "b")]
    assert pd.isna(keys[4][0]) and keys[4][1] == "a"  # missing key kept as its own group
    assert list(out["k"]) == [5, 0, 3, 3, 1]
    assert out["k"].sum() + 1 == len(data)  # every row accounted for (one NaN row dropped)
    empty = out.iloc[1]
    assert math.isnan(empty["estimate"]) and math.isnan(empty["tau2"])
    single = out.iloc[4]
    assert single["estimate"] == y[11] and single["se"] == pytest.approx(math.sqrt(v[11]))
    assert math.isnan(single["tau2"]) and math.isnan(single["i2"]) and single["q_df"] == 0
    ref = pool(y[6:11], v[6:11], method="DL")
    assert out.iloc[0]["estimate"] == pytest.approx(ref.estimate, rel=1e-13)
    assert out.iloc[0]["tau2_ci_high"] == pytest.approx(ref.tau2_ci_high, rel=1e-12)


def test_custom_column_names_and_level():
    y, v = dataset("bcg_rr")
    data = pd.DataFrame({"g": ["x"] * 13, "logrr": y, "var": v})
    out = pool_groups(data, "g", yi="logrr", vi="var", method="PM", ci_method="hksj", level=0.9)
    one = pool(y, v, method="PM", ci_method="hksj", level=0.9)
    assert out.loc[0, "ci_low"] == pytest.approx(one.ci_low, rel=1e-13)
    assert out.loc[0, "pi_high"] == pytest.approx(one.pi_high, rel=1e-13)
    assert out.loc[0, "level"] == 0.9


def test_no_python_loop_over_pool(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("pool_groups must not call pool() per group")

    monkeypatch.setattr(evidence.pooling, "pool", boom)
    out = _pool_groups(method="REML")
    assert len(out) == len(DATASETS)


def test_many_groups_random_equal_to_pool():
    rng = np.random.default_rng(3)
    n_groups = 300
    k = rng.integers(1, 15, n_groups)
    gid = np.repeat(np.arange(n_groups), k)
    v = rng.uniform(0.005, 1.0, gid.size)
    tau = rng.choice([0.0, 0.05, 0.5], n_groups)[gid]
    y = rng.normal(0.2, np.sqrt(v + tau))
    data = pd.DataFrame({"g": gid, "yi": y, "vi": v})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        out = pool_groups(data, "g", method="REML", ci_method="hksj")
        sample = rng.choice(n_groups, 40, replace=False)
        for g in sample:
            one = pool(y[gid == g], v[gid == g], method="REML", ci_method="hksj")
            row = out.loc[g]
            for field in (
                "estimate",
                "se",
                "tau2",
                "tau2_ci_low",
                "tau2_ci_high",
                "i2",
                "pi_low",
                "pi_high",
                "p_value",
            ):
                a, b = row[field], getattr(one, field)
                assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"by": "nope"}, r"The 'by' argument of pool_groups\(\) names column 'nope'"),
        ({"yi": "y"}, r"The 'yi' argument of pool_groups\(\) names column 'y'"),
        ({"by": 3}, r"The 'by' argument of pool_groups\(\) must be a column name"),
        ({"by": "yi"}, r"must not include the 'yi' or 'vi' column"),
        ({"method": "RMEL"}, r"The 'method' argument of pool_groups\(\) must be one of"),
        ({"level": 1.5}, r"The 'level' argument of pool_groups\(\)"),
    ],
)
def test_argument_errors(kwargs, pattern):
    args = {"by": "dataset"} | kwargs
    with pytest.raises(InvalidParameterError, match=pattern):
        pool_groups(STACKED, **args)


def test_bad_data_errors():
    with pytest.raises(InvalidParameterError, match="'data' argument of pool_groups"):
        pool_groups([1, 2], "g")
    bad = pd.DataFrame({"g": [1, 1], "yi": [0.1, "x"], "vi": [0.1, 0.1]})
    with pytest.raises(ValidationError, match="column 'yi'.*numeric; row 1 has 'x'"):
        pool_groups(bad, "g")
    neg = pd.DataFrame({"g": [1, 1], "yi": [0.1, 0.2], "vi": [0.1, -0.1]}, index=["s1", "s2"])
    with pytest.raises(ValidationError, match="row 's2' has a negative"):
        pool_groups(neg, "g")
    flags = pd.DataFrame({"g": [1, 1], "yi": [True, False], "vi": [0.1, 0.1]})
    with pytest.raises(ValidationError, match="column 'yi', which holds booleans"):
        pool_groups(flags, "g")


@pytest.mark.parametrize(
    "keys",
    [
        np.repeat(np.arange(40), 5),  # sorted integers
        np.repeat(np.linspace(-1.0, 1.0, 40), 5),  # sorted floats
        np.r_[np.zeros(100), -0.0 * np.ones(50), np.ones(50)],  # -0.0 == 0.0: one group
    ],
)
@pytest.mark.parametrize("missing", [False, True])
def test_presorted_numeric_key_gives_the_same_frame(keys, missing, monkeypatch):
    import evidence.pooling as pooling

    rng = np.random.default_rng(4)
    data = pd.DataFrame(
        {"g": keys, "yi": rng.normal(size=keys.size), "vi": rng.uniform(0.01, 0.1, keys.size)}
    )
    if missing:  # rows dropped: every row of the last group and a few elsewhere
        data.loc[data["g"] == data["g"].iloc[-1], "yi"] = np.nan
        data.loc[[1, 7], "vi"] = np.nan
    assert pooling._presorted_sizes(data, ["g"]) is not None

    def run() -> tuple[pd.DataFrame, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = pool_groups(data, "g")
        return out, sorted(str(w.message) for w in caught)

    fast, fast_warnings = run()
    monkeypatch.setattr(pooling, "_presorted_sizes", lambda *args: None)
    general, general_warnings = run()
    pd.testing.assert_frame_equal(fast, general, check_exact=True)
    assert fast_warnings == general_warnings
    assert len(fast) == data.groupby("g").ngroups
    usable = data["yi"].notna() & data["vi"].notna()
    assert fast["k"].sum() == usable.sum()  # rows in = rows used + rows dropped with a warning
    if missing:
        assert fast["k"].iloc[-1] == 0 and math.isnan(fast["estimate"].iloc[-1])
        assert any("rows dropped" in w for w in fast_warnings)


def test_unsorted_or_missing_keys_use_the_general_path():
    import evidence.pooling as pooling

    unsorted = pd.DataFrame({"g": [2, 1, 2], "yi": [0.1, 0.2, 0.3], "vi": 0.1})
    assert pooling._presorted_sizes(unsorted, ["g"]) is None
    with_nan = pd.DataFrame({"g": [1.0, 1.0, np.nan], "yi": [0.1, 0.2, 0.3], "vi": 0.1})
    assert pooling._presorted_sizes(with_nan, ["g"]) is None
    with pytest.warns(StatisticalWarning, match="Only one study in 1 group"):
        out = pool_groups(with_nan, "g")
    assert len(out) == 2  # the missing key is its own group


# ---- the vectorised engine's own paths (blocks, padding, Newton stops, likelihood check) -----
def _random_groups(seed: int, n_groups: int, k_low: int, k_high: int):
    rng = np.random.default_rng(seed)
    k = rng.integers(k_low, k_high, n_groups)
    gid = np.repeat(np.arange(n_groups), k)
    v = rng.uniform(0.005, 1.0, gid.size)
    tau = rng.choice([0.0, 0.01, 0.1, 1.0], n_groups)[gid]
    y = rng.normal(0.3, np.sqrt(v + tau))
    return gid, y, v, k


@pytest.mark.parametrize("method", ["REML", "ML", "PM"])
def test_small_ragged_blocks_equal_one_block_and_pool(method, monkeypatch):
    """Groups of very different sizes, taken in order of k into padded blocks (many blocks
    here), give the results of one block and of pool() per group, in the input order."""
    gid, y, v, k = _random_groups(8, 120, 1, 60)
    data = pd.DataFrame({"g": gid, "yi": y, "vi": v})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        whole = pool_groups(data, "g", method=method, ci_method="hksj")
        monkeypatch.setattr(evidence.pooling, "_BLOCK_CELLS", 50)
        blocks = pool_groups(data, "g", method=method, ci_method="hksj")
        for g in range(0, 120, 7):
            one = pool(y[gid == g], v[gid == g], method=method, ci_method="hksj")
            for field in NUMERIC:
                a, b = float(blocks.loc[g, field]), float(getattr(one, field))
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(
                    b, rel=1e-10, abs=1e-14
                ), (g, field, a, b)
    pd.testing.assert_frame_equal(whole, blocks, check_exact=False, rtol=1e-12, atol=1e-15)
    assert list(blocks["k"]) == list(k)


def test_segments_layout_pads_with_zero_weight():
    from evidence import _tau2

    seg = _tau2.Segments.from_sorted(np.arange(6.0), np.full(6, 0.5), np.array([1, 3, 2]))
    assert seg.y.shape == (3, 3) and seg.padded
    assert seg.y[:, 1].tolist() == [1.0, 2.0, 3.0] and np.isinf(seg.v[1:, 0]).all()
    assert seg.flat(seg.y).tolist() == list(np.arange(6.0))
    ybar, ss, vsum = seg.moments
    assert ybar.tolist() == [0.0, 2.0, 4.5] and ss.tolist() == [0.0, 2.0, 0.5]
    assert vsum.tolist() == [0.5, 1.5, 1.0]
    sub = seg.subset(np.array([2, 0]))
    assert sub.y.shape == (2, 2) and sub.y.flags["C_CONTIGUOUS"] and sub.k.tolist() == [2, 1]


@pytest.mark.parametrize("reml", [True, False])
def test_likelihood_roots_and_local_maximum_check_many_groups(reml):
    """Every interior root is a root to ~1e-12 of tau2 (the quadratic-convergence stop does
    not stop early), and the log-free bound of the ll(tau2) >= ll(0) check never disagrees
    with the exact log-likelihoods."""
    from evidence import _tau2

    gid, y, v, k = _random_groups(9, 3000, 2, 30)
    seg = _tau2.Segments.from_sorted(y, v, k)
    tau2, conv, stuck = _tau2.tau2_likelihood(seg, reml)
    assert conv.all()
    pos = tau2 > 0
    assert pos.sum() > 1000
    yppy, trp, trpp, yp3y = _tau2._score_parts(seg, tau2, reml)
    slope = np.abs(-2 * yp3y + trpp)
    assert np.all(np.abs(yppy - trp)[pos] / slope[pos] <= 1e-12 * tau2[pos])
    ll = _tau2._loglik(seg, tau2, reml)
    ll0 = _tau2._loglik(seg, np.zeros(len(k)), reml)
    assert np.all(ll0[pos] - ll[pos] <= 1e-13)  # no positive estimate below ll(0)
    assert np.all(tau2[stuck] == 0)
    # the trapezoid bound behind the log-free check: sum log(1 + t/v) <= t/2 (sw0 + sw_t)
    t = np.repeat(tau2, k)
    exact = np.bincount(gid, np.log1p(t / v))
    bound = 0.5 * tau2 * (np.bincount(gid, 1 / v) + np.bincount(gid, 1 / (v + t)))
    assert np.all(exact <= bound * (1 + 1e-12))


def test_walk_down_finds_the_first_sign_change_like_a_point_by_point_walk():
    from evidence import _tau2

    gid, y, v, k = _random_groups(10, 400, 2, 25)
    seg = _tau2.Segments.from_sorted(y, v, k)
    start = np.maximum(_tau2.tau2_he(seg), 1e-3)
    factors = (0.9, 0.7, 0.5, 0.3, 0.15, 0.05, 0.01, 1e-3, 1e-5, 0.0)
    active = seg.k > 1
    found, lo, hi = _tau2._walk_down(seg, True, active, start, factors)
    for g in np.flatnonzero(active)[:150]:
        one = seg.subset(np.array([g]))
        prev, hit = start[g], None
        for c in factors:
            if _tau2._score_only(one, np.array([start[g] * c]), True)[0] > 0:
                hit = (start[g] * c, prev)
                break
            prev = start[g] * c
        assert found[g] == (hit is not None)
        if hit is not None:
            assert (lo[g], hi[g]) == hit


def test_qprofile_bounds_solve_q_equations_many_groups():
    """Both Q-profile bounds of every group solve their Q equation to 1e-12 (or are 0 where
    Q(0) is already below the target)."""
    from scipy import stats

    from evidence import _tau2

    gid, y, v, k = _random_groups(12, 2000, 2, 30)
    seg = _tau2.Segments.from_sorted(y, v, k)
    tau2, _, _ = _tau2.tau2_likelihood(seg, True)
    lo, hi, conv = _tau2.qprofile_ci(seg, 0.95, start=tau2)
    assert conv.all()
    df = k - 1
    for bound, target in ((lo, stats.chi2.isf(0.025, df)), (hi, stats.chi2.ppf(0.025, df))):
        q = _tau2.generalised_q(seg, bound)
        inner = bound > 0
        assert np.allclose(q[inner], target[inner], rtol=1e-12, atol=0)
        assert np.all(_tau2.generalised_q(seg, np.zeros(len(k)))[~inner] <= target[~inner])


MANY = load_fixture("pool_groups_many")
MANY_FIELDS = {  # metafor name -> pool_groups column
    "beta": "estimate",
    "se": "se",
    "pval": "p_value",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "tau2": "tau2",
    "tau2.lb": "tau2_ci_low",
    "tau2.ub": "tau2_ci_high",
    "I2": "i2",
    "H2": "h2",
    "QE": "q",
    "QEp": "q_p",
    "pi.lb": "pi_low",
    "pi.ub": "pi_high",
}


def _mccurdy(order: str) -> pd.DataFrame:
    data = pd.DataFrame({name: as_array(MANY["data"][name]) for name in ("article", "yi", "vi")})
    data["article"] = data["article"].astype(np.int64)
    if order == "shuffled":  # the general path (hashing, stable order) instead of presorted
        data = data.sample(frac=1.0, random_state=3)
    return data


@pytest.mark.parametrize("order", ["as_published", "shuffled"])
@pytest.mark.parametrize("block_cells", [1 << 17, 64])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_many_groups_of_a_real_dataset_match_metafor(test, block_cells, order, monkeypatch):
    """dat.mccurdy2020 pooled per article (126 articles of 2 to 48 effect sizes), REML with the
    Q-profile CI and the prediction interval, equals metafor's rma() article by article; in
    one block or in many small blocks (the solvers' compaction and padding on real data)."""
    assert MANY["metafor_version"] == "3.8.1" and MANY["dataset"] == "dat.mccurdy2020"
    case = MANY["cases"][test]
    assert case["call"].startswith(f'rma(yi, vi, method="REML", test="{test}"')
    monkeypatch.setattr(evidence.pooling, "_BLOCK_CELLS", block_cells)
    data = _mccurdy(order)
    out = pool_groups(data, "article", method="REML", ci_method=R_TESTS[test])
    assert out["k"].sum() == len(data) == 1653  # every row used
    assert len(out) == 126 and out["article"].is_monotonic_increasing
    fitted = out.set_index("article").loc[as_array(case["article"]).astype(np.int64)]
    assert len(fitted) == 126 and fitted["k"].min() == 2  # every article has k >= 2
    np.testing.assert_array_equal(fitted["k"], as_array(case["k"]))
    for r_name, col in MANY_FIELDS.items():
        want, have = as_array(case[r_name]), fitted[col].to_numpy(dtype=float)
        np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-12, err_msg=f"{test} {r_name}")
