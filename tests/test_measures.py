"""evidence.measures: one home for the measure vocabulary and the natural-scale back-transform
(issue 17), and the report showing the same natural-scale numbers as the tables for every
measure of the study sheet."""

from __future__ import annotations

import html
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import grading
from evidence import effect_sizes
from evidence.errors import InvalidParameterError
from evidence.measures import (
    DATA_TYPE_MEASURES,
    EFFECT_MEASURES,
    MEASURE_INFO,
    MEASURES,
    RATIO_MEASURES,
    SINGLE_GROUP_MEASURES,
    default_measure,
    is_ratio,
    measure_info,
    to_natural,
)
from evidence.study_effects import study_effects
from grading.pooled import pooled_table
from grading.report import render_report

# --------------------------------------------------------------------------- the vocabulary


def test_the_vocabulary_is_the_one_the_rest_of_evigap_reads():
    import evidence.effects as effects
    import evidence.rules as rules
    import evidence.schema as schema
    from grading.plots import _style

    assert MEASURES == ("RR", "OR", "HR", "RD", "MD", "SMD", "ROM", "PLO", "PR", "GEN")
    assert RATIO_MEASURES == ("RR", "OR", "HR", "ROM")
    assert schema.MEASURES is MEASURES and schema.RATIO_MEASURES is RATIO_MEASURES
    assert effects.LOG_MEASURES is RATIO_MEASURES
    assert set(effects.CI_MEASURES) == set(MEASURES)
    assert effects.EFFECT_MEASURES == EFFECT_MEASURES
    assert set(EFFECT_MEASURES) == set(MEASURE_INFO) - {"HR"}
    assert SINGLE_GROUP_MEASURES == ("PLO", "PR", "PLN", "PAS", "PFT")
    for data_type in ("counts", "continuous", "single_arm"):
        assert rules.DATA_TYPE_REQUIREMENTS[data_type][1] == DATA_TYPE_MEASURES[data_type]
    assert [default_measure(d) for d in ("counts", "continuous", "single_arm")] == [
        "RR",
        "MD",
        "PLO",
    ]
    assert default_measure("estimate") is None and default_measure(float("nan")) is None
    assert _style.MEASURE_LABELS["HR"] == "Hazard Ratio"
    assert [m for m in MEASURE_INFO if is_ratio(m)] == ["RR", "OR", "HR", "ROM", "PETO", "IRR"]
    assert not is_ratio(None) and not is_ratio("PLN") and is_ratio("rr")
    assert measure_info("smd").scale == "identity" and measure_info("OR").null == 1.0
    with pytest.raises(InvalidParameterError, match="'measure' argument of measure_info"):
        measure_info("XYZ")


# --------------------------------------------------------------------------- back-transforms

#: Per measure: effect_sizes arguments (column -> values) and the natural-scale value of each
#: row, computed by hand (the back-transform must undo the transform of effect_sizes).
_ROUND_TRIP = {
    "RR": (dict(ai=[3, 10], n1i=[30, 50], ci=[6, 12], n2i=[30, 40]), [0.5, 0.2 / 0.3]),
    "OR": (
        dict(ai=[3, 10], n1i=[30, 50], ci=[6, 12], n2i=[30, 40]),
        [(3 / 27) / (6 / 24), (10 / 40) / (12 / 28)],
    ),
    "PETO": (dict(ai=[3], n1i=[30], ci=[6], n2i=[30]), None),
    "RD": (dict(ai=[3], n1i=[30], ci=[6], n2i=[30]), [-0.1]),
    "MD": (dict(m1i=[5.0], sd1i=[1.0], n1i=[20], m2i=[4.0], sd2i=[1.0], n2i=[20]), [1.0]),
    "SMD": (dict(m1i=[5.0], sd1i=[1.0], n1i=[20], m2i=[4.0], sd2i=[1.0], n2i=[20]), None),
    "SMDH": (dict(m1i=[5.0], sd1i=[1.0], n1i=[20], m2i=[4.0], sd2i=[2.0], n2i=[20]), None),
    "ROM": (dict(m1i=[5.0], sd1i=[1.0], n1i=[20], m2i=[4.0], sd2i=[1.0], n2i=[20]), [1.25]),
    "PR": (dict(xi=[3, 12], ni=[30, 40]), [0.1, 0.3]),
    "PLN": (dict(xi=[3, 12], ni=[30, 40]), [0.1, 0.3]),
    "PLO": (dict(xi=[3, 12], ni=[30, 40]), [0.1, 0.3]),
    "PAS": (dict(xi=[3, 12], ni=[30, 40]), [0.1, 0.3]),
    "PFT": (dict(xi=[3, 12], ni=[30, 40]), [0.1, 0.3]),
    "COR": (dict(ri=[0.3, -0.5], ni=[30, 40]), [0.3, -0.5]),
    "ZCOR": (dict(ri=[0.3, -0.5], ni=[30, 40]), [0.3, -0.5]),
    "IRR": (dict(x1i=[4], t1i=[100.0], x2i=[10], t2i=[125.0]), [0.5]),
    "IRD": (dict(x1i=[4], t1i=[100.0], x2i=[10], t2i=[125.0]), [-0.04]),
    "GEN": (dict(yi=[0.3], vi=[0.01]), [0.3]),
}


def test_every_measure_has_a_back_transform_test():
    assert set(_ROUND_TRIP) | {"HR"} == set(MEASURE_INFO)


@pytest.mark.parametrize("measure", sorted(_ROUND_TRIP))
def test_to_natural_undoes_the_scale_of_effect_sizes(measure):
    args, natural = _ROUND_TRIP[measure]
    data = pd.DataFrame(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yi = effect_sizes(data, measure, **{k: k for k in args})["yi"].to_numpy()
    info = MEASURE_INFO[measure]
    n = data["ni"].to_numpy(dtype=float) if "ni" in data else [None] * len(yi)
    back = np.array([to_natural(measure, float(y), n=k) for y, k in zip(yi, n, strict=True)])
    # arrays in, arrays out, the same numbers but for numpy's last bit (PFT: one n per call)
    if info.scale != "double_arcsine":
        np.testing.assert_allclose(to_natural(measure, yi), back, rtol=1e-15)
    if info.scale == "identity":
        np.testing.assert_array_equal(back, yi)
    if natural is not None:
        np.testing.assert_allclose(back, natural, rtol=1e-12)
    else:  # PETO, SMD, SMDH: no closed form to undo; the scale still decides
        assert (info.scale == "log") == bool(np.all(back == np.exp(yi)))


def test_back_transforms_at_the_edges():
    # numbers go through the C library: exp(log(0.375)) is 0.375, shown as 0.38 everywhere
    assert to_natural("OR", math.log(0.375)) == 0.375
    assert to_natural("PLO", -1000.0) == 0.0 and to_natural("PLO", 1000.0) == 1.0
    assert to_natural("RR", 1000.0) == math.inf
    assert to_natural("PAS", -0.1) == 0.0 and to_natural("PAS", 2.0) == 1.0
    assert math.isnan(to_natural("OR", math.nan)) and math.isnan(to_natural("ZCOR", math.nan))
    assert to_natural(None, 0.3) == 0.3 and to_natural("XYZ", 0.3) == 0.3
    # metafor transf.ipft: beyond the transform of 0 or n events the limits 0 and 1
    assert to_natural("PFT", 0.0, n=30) == 0.0 and to_natural("PFT", 1.6, n=30) == 1.0
    with pytest.raises(InvalidParameterError, match="'n' argument of to_natural"):
        to_natural("PFT", 0.3)


# --------------------------------------------------------------------------- report == tables


def _body(measure: str) -> pd.DataFrame:
    """Three studies reporting ``measure`` as an estimate with a Wald 95% CI on its scale."""
    single = measure in SINGLE_GROUP_MEASURES
    info = MEASURE_INFO[measure]
    forward = {"log": math.exp, "logit": lambda x: 1 / (1 + math.exp(-x))}.get(
        info.scale, lambda x: x
    )
    centre = {"log": -0.3, "logit": -1.8}.get(info.scale, 0.25 if measure == "PR" else -0.4)
    rows = []
    for i, (shift, se) in enumerate(((0.0, 0.15), (0.12, 0.2), (-0.08, 0.1))):
        y = centre + shift * (0.1 if measure == "PR" else 1)
        s = se * (0.1 if measure == "PR" else 1)
        rows.append(
            dict(
                study_id=f"S{i}",
                citation_key=f"k{i}",
                indication="sepsis",
                outcome="death",
                stream="human",
                model="case_series" if single else "phase_3",
                randomised=not single,
                controlled=not single,
                outcome_kind="benefit",
                intervention="EV",
                comparator="" if single else "placebo",
                data_type="estimate",
                measure=measure,
                estimate=forward(y),
                ci_low=forward(y - 1.959963984540054 * s),
                ci_high=forward(y + 1.959963984540054 * s),
                n_int=40 + 10 * i,
                n_ctrl=math.nan if single else 40 + 10 * i,
            )
        )
    return pd.DataFrame(rows)


def _f(x: float) -> str:  # how the report and the tables print a natural-scale number
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"


@pytest.mark.parametrize("measure", MEASURES)
def test_report_shows_the_tables_natural_scale_numbers(measure):
    """For every measure of the sheet: pooled.csv's natural-scale estimate and CI are the
    back-transform of its analysis-scale ones, and the report (summary of findings, reasons,
    study records) shows exactly those numbers; the records show each study's own estimate."""
    studies = _body(measure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eff = study_effects(studies)
        grades = grading.grade(eff)
        pooled = pooled_table(grades)
        sof = grading.summary_of_findings(grades, studies=eff)
        profile = grading.evidence_profile(grades, studies=eff)
        text = html.unescape(
            render_report(grades=grades, evidence_table=eff, profile=profile, sof=sof)
        )
    assert len(pooled) == 1
    row = pooled.iloc[0]
    assert row["measure"] == measure and row["k"] == 3
    natural = [row[f"{c}_natural"] for c in ("estimate", "ci_low", "ci_high")]
    analysis = [row[c] for c in ("estimate", "ci_low", "ci_high")]
    assert natural == [to_natural(measure, x) for x in analysis]  # exact
    g = grades.iloc[0]
    assert [g[f"{c}_natural"] for c in ("estimate", "ci_low", "ci_high")] == natural
    est, lo, hi = natural
    if measure in RATIO_MEASURES:
        assert 0 < lo < est < hi
    elif measure == "PLO":
        assert 0 < lo < est < hi < 1 and est == pytest.approx(1 / (1 + math.exp(1.8)), rel=0.2)

    # the reasons the report prints (imprecision states the interval on the natural scale)
    assert f"95% CI {_f(lo)} to {_f(hi)}" in text
    # the summary of findings and the evidence profile print the same numbers
    cells = " ".join(str(v) for v in (*sof.iloc[0].tolist(), *profile.iloc[0].tolist()))
    if measure in RATIO_MEASURES:
        shown = f"{measure} {est:.2f} ({lo:.2f} to {hi:.2f})"
        assert sof.iloc[0]["Relative effect (95% CI)"] == shown
        assert profile.iloc[0]["Relative (95% CI)"] == shown
        assert shown in text
    elif measure in ("PLO", "PR"):
        shown = f"pooled proportion {est:.2f} ({lo:.2f} to {hi:.2f}"
        assert shown in sof.iloc[0]["Risk difference with intervention (95% CI)"]
        assert shown in text
    elif measure in ("MD", "SMD", "GEN"):

        def w(x):
            return f"{abs(x):.2f} {'lower' if x < 0 else 'higher'}"

        shown = f"{measure} {w(est)} ({w(lo)} to {w(hi)})"
        assert shown in cells and shown in text
    # each record: the study's own estimate and CI, on the natural scale (as in the sheet)
    for r in studies.itertuples():
        record = f"{measure} {r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
        assert record in text, record
    assert not re.search(rf"{measure} -\d", text) or measure not in (*RATIO_MEASURES, "PLO")
