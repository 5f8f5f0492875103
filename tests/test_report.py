"""Tests of grading.report: self-contained, escaped, renders in a real browser."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from grading.report import figure_png, render_report, save_figure, write_report  # noqa: E402

EVIL = "<script>alert(1)</script>"
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")


def _grades(indication: str = EVIL) -> pd.DataFrame:
    rows = []
    for stream, certainty, steps in (
        ("human", "low", (-1, 0, 0, -1, 0)),
        ("animal", "very low", (-2, 0, -1, -1, 0)),
    ):
        row = {
            "indication": indication,
            "outcome": f"mortality {EVIL}",
            "stream": stream,
            "k": 3,
            "estimate": -0.3,
            "certainty": certainty,
            "certainty_symbols": "⊕⊕◯◯",
            "starting_level": "high",
            "statement": f"Exosomes may reduce mortality {EVIL}",
        }
        for d, s in zip(DOMAINS, steps, strict=True):
            row[d] = s
            row[f"{d}_suggested"] = s
            row[f"{d}_reason"] = f"reason for {d} {EVIL}"
            row[f"{d}_source"] = "GRADE handbook 5.2.1"
            row[f"{d}_override_by"] = None
        rows.append(row)
    return pd.DataFrame(rows)


def _figure():
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot([0, 1, 2], [2, 0, 1], color="C0")
    ax.set_title("a figure")
    return fig


@pytest.fixture()
def report_html():
    grades = _grades()
    evidence_table = pd.DataFrame(
        {
            "study_id": [EVIL, "Smith 2020"],
            "citation_key": ["k1", "k2"],
            "indication": [EVIL, EVIL],
            "indication_label": [pd.NA, pd.NA],
            "stream": ["human", "animal"],
            "model": ["phase_1", "mouse"],
            "outcome": ["mortality", "mortality"],
            "measure": ["RR", "SMD"],
            "yi": [np.log(0.5), -1.2],
            "vi": [0.1, 0.2],
            "effect_note": [pd.NA, pd.NA],
        }
    )
    fig = _figure()
    text = render_report(
        grades=grades,
        gap=pd.DataFrame({"indication": [EVIL], "gap_steps": [2], "note": [EVIL]}),
        profile=grades[["indication", "outcome", "stream", "certainty"]],
        evidence_table=evidence_table,
        claims_audit=pd.DataFrame(
            {"claim_id": ["c1"], "claim": [EVIL], "verdict": ["unsupported"]}
        ),
        rejected=pd.DataFrame(
            {
                "row": [4, 4],
                "study_id": [EVIL, EVIL],
                "column": ["n_int", "yi"],
                "value": ["-3", "x"],
                "reason": ["negative", EVIL],
            }
        ),
        figures={"Gap map": fig},
        indication_figures={EVIL: {"Translational forest": fig}},
        manifest={
            "counts": {"rows_in": 3, "rows_accepted": 2, "rows_rejected": 1},
            "inputs": {"studies": {"name": EVIL, "sha256": "ab"}, "claims": None},
            "versions": {"evigap": "0.1.0"},
            "scheme": {"imprecision": {"ois": 300}},
        },
        title=f"Review {EVIL}",
    )
    plt.close(fig)
    return text


def test_user_text_is_escaped_everywhere(report_html):
    assert "<script" not in report_html.lower()
    escaped = html.escape(EVIL)
    # study id, indication, outcome, reasons, statement, claim, rejected row, input name, title
    assert report_html.count(escaped) >= 10
    assert "onerror" not in report_html


def test_report_is_self_contained(report_html):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", report_html)
    assert "<link" not in report_html
    assert "@import" not in report_html
    assert "default-src 'none'" in report_html  # CSP forbids any script or remote load
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report_html)
    assert len(images) == 2
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_order_and_reasons(report_html):
    gap_at = report_html.index("Translational gap summary")
    forest_at = report_html.index("Translational forest")
    profile_at = report_html.index("Evidence profile")
    why_at = report_html.index("Why each rating")
    # figures beside the indication's text, then the folded profile, records and reasons
    assert gap_at < forest_at < profile_at < why_at
    # every domain of every graded row with its reason and source (each source listed once
    # per indication and cited as [n])
    for d in DOMAINS:
        assert report_html.count(html.escape(f"reason for {d} {EVIL}")) == 2
    assert report_html.count("GRADE handbook 5.2.1") == 1
    assert report_html.count("<td>[1]</td>") == 2 * len(DOMAINS)
    assert "−2 risk of bias" in report_html  # the summary line of the animal rating
    assert "Rejected rows (1)" in report_html
    # per-record effects with 95% CI, ratio measures back-transformed from the log scale
    assert "RR 0.50 [0.27, 0.93]" in report_html
    assert "SMD -1.20 [-2.08, -0.32]" in report_html


def test_numbers_rounded_only_for_display():
    text = render_report(
        grades=_grades("x"),
        profile=pd.DataFrame(
            {
                "indication": ["x"],
                "estimate": [0.123456789],
                "p_value": [1.5e-7],
                "k": [np.int64(4)],
            }
        ),
    )
    assert "0.123" in text and "0.1234" not in text
    assert "1.50e-07" in text
    assert ">4<" in text


def test_figure_png_has_no_software_chunk_and_is_reproducible():
    fig = _figure()
    one, two = figure_png(fig), figure_png(fig)
    plt.close(fig)
    assert one == two
    assert b"Software" not in one and b"matplotlib" not in one


def test_save_figure_svg_pdf_reproducible(tmp_path):
    fig = _figure()
    for suffix in ("svg", "pdf", "png"):
        a = save_figure(fig, tmp_path / f"a.{suffix}").read_bytes()
        b = save_figure(fig, tmp_path / f"b.{suffix}").read_bytes()
        assert a == b, suffix
    plt.close(fig)
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert b"CreationDate" not in pdf


def test_write_report_writes_utf8(tmp_path, report_html):
    path = write_report(tmp_path / "r.html", grades=_grades("Wound healing ⊕"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Wound healing ⊕" in text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _screenshot(html_path, png_path, profile_dir):
    browser = _chromium()
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        f"--screenshot={png_path}",
        "--window-size=1280,2000",
        html_path.resolve().as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=60, check=False)


def _assert_not_blank(png_path):
    import matplotlib.image as mpimg

    assert png_path.is_file() and png_path.stat().st_size > 0
    pixels = mpimg.imread(png_path)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    non_white = (pixels < 0.9).any(axis=-1).mean()
    assert non_white > 0.01, f"screenshot nearly blank ({non_white:.4f} non-white)"
    assert pixels.std() > 0.05


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path, report_html):
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    _screenshot(page, shot, tmp_path / "profile")
    _assert_not_blank(shot)


# --------------------------------------------------------------------------- bundled run


@pytest.fixture(scope="module")
def bundled_report():
    from test_cli import shared_default_run  # the bundled run of `evigap run`, shared

    out, code, _, stderr = shared_default_run()
    assert code == 0, stderr
    return out, (out / "report.html").read_text(encoding="utf-8")


def test_bundled_report_covers_every_indication_and_rating(bundled_report):
    out, text = bundled_report
    grades = pd.read_csv(out / "grades.csv")
    notes = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["notes"]
    assert "<script" not in text.lower()
    indications = list(dict.fromkeys(grades["indication"]))
    assert len(indications) >= 2
    gap = pd.read_csv(out / "gap_summary.csv")
    labels = dict(zip(gap["indication"], gap["indication_label"], strict=True))
    for ind in indications:
        assert f">{html.escape(labels[ind])}</h2>" in text
    assert ">acne_scars</h2>" not in text and ">Acne scars</h2>" in text
    # one reasons block per graded row, with every domain's reason
    assert text.count('<details class="rating"') == len(grades)
    for reason in grades["imprecision_reason"].dropna().unique():
        assert html.escape(reason) in text
    # gap summary comes before the first indication section
    assert text.index("Translational gap summary") < text.index('id="ind-0"')
    # each translational forest drawn is embedded; the others are explained under Notes
    drawn = len(list((out / "figures").glob("translational_forest_*.png")))
    assert text.count('alt="Translational forest: ') == drawn
    not_drawn = [n for n in notes if n.startswith("Translational forest")]
    assert drawn + len(not_drawn) == len(indications)
    for note in notes:
        assert html.escape(note) in text


def test_bundled_report_opens_on_one_screen_and_is_small(bundled_report):
    out, text = bundled_report
    assert (out / "report.html").stat().st_size <= 2_000_000
    first = text[: text.index("<nav>")]
    for heading in (
        "What was reviewed",
        "Translation verdict per indication",
        "Harms",
        "What the certainty rests on",
    ):
        assert f"<h2>{heading}</h2>" in first
    gap = pd.read_csv(out / "gap_summary.csv")
    # every indication appears under its verdict, by its label, linked to its section
    for _, r in gap.iterrows():
        assert html.escape(r["indication_label"]) in first
    et = pd.read_csv(out / "evidence_table.csv")
    n = et["stream"].value_counts()
    assert (
        f"{len(et)} records ({n['in_vitro']} in vitro, {n['animal']} animal, "
        f"{n['human']} human) on {len(gap)} indications"
    ) in first
    # review-wide regulatory facts once, not on every row
    # opening + the 'All indications' row of the gap table + that indication's section
    assert text.count("US (Nebraska): safety notice (2019-12-10)") == 3
    assert "@media print" in text
    sof = pd.read_csv(out / "summary_of_findings.csv")
    assert len(sof) > 0 and "Risk difference with intervention (95% CI)" in sof.columns
    assert (out / "figures" / "translational_ladder.png").is_file()


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_bundled_report_renders_in_headless_chromium(bundled_report, tmp_path):
    out, _ = bundled_report
    shot = tmp_path / "bundled.png"
    _screenshot(out / "report.html", shot, tmp_path / "profile")
    _assert_not_blank(shot)


def test_report_shows_sof_per_indication_with_each_footnote_once():
    import grading

    st = pd.DataFrame(
        [
            dict(
                study_id=f"T{i}",
                indication="sepsis",
                outcome=o,
                stream="human",
                model="phase_3",
                data_type="counts",
                measure="RR",
                randomised=True,
                controlled=True,
                events_int=20,
                n_int=100,
                events_ctrl=40,
                n_ctrl=100,
                rob_overall="high",
                intervention="EV",
                outcome_kind="benefit",
            )
            for i, o in enumerate(("death", "relapse"))
        ]
    )
    from evidence.study_effects import study_effects

    g = grading.grade(study_effects(st))
    sof = grading.summary_of_findings(g)
    gap = grading.gap_summary(study_effects(st), g)
    text = render_report(grades=g, gap=gap, sof=sof)
    assert text.index("Summary of findings") < text.index("Why each rating")
    assert "200 fewer per 1,000 (from 274 fewer to 83 fewer)" in text
    assert "400 per 1,000 (control arms)" in text
    # the same risk-of-bias footnote serves both outcomes: listed once
    rob = [t for mk, t in sof.attrs["footnotes"] if t.startswith("Risk of bias")]
    assert len(rob) == 1 and text.count(html.escape(rob[0])) == 1
    # opening screen: verdict and label; no snake_case
    first = text[: text.index("<nav>")]
    assert "human efficacy reported, not comparable" in first and ">Sepsis</a>" in first


def test_single_arm_records_show_observed_proportion_and_method():
    # issue 18 item 3: '0 of 28 with an adverse event' reads 0% with its Wilson 95% CI (0 to
    # 12%), never the 0.5-corrected PR 0.017 used inside pooling
    import warnings

    import grading
    from evidence.study_effects import study_effects

    st = pd.DataFrame(
        [
            dict(
                study_id="HACS",
                indication="skin ageing",
                outcome="SAE",
                stream="human",
                model="phase_1",
                data_type="single_arm",
                measure="PR",
                events_int=0,
                n_int=28,
                outcome_kind="harm",
                intervention="EV",
            )
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eff = study_effects(st)
    assert eff["yi"].iloc[0] == pytest.approx(0.5 / 29)
    g = grading.grade(eff)
    text = render_report(
        grades=g,
        evidence_table=eff,
        profile=grading.evidence_profile(g, studies=eff),
        sof=grading.summary_of_findings(g, studies=eff),
    )
    assert "0 of 28: 0% (95% CI 0% to 12%, Wilson score)" in text
    assert "0% (95% CI 0% to 12%, Wilson score; no comparator)" in text  # SoF and profile
    assert "PR 0.02" not in text and f"{0.5 / 29:.3g}" not in text
    # the body is rated from what was assessed and says so
    assert "(provisional: " in text


def test_bottom_line_names_the_human_body_its_comparison_and_its_certainty():
    import grading
    from evidence.study_effects import study_effects

    st = pd.DataFrame(
        [
            dict(
                study_id="T1",
                indication="sepsis",
                outcome="death",
                stream="human",
                model="phase_2",
                data_type="counts",
                measure="RR",
                randomised=True,
                controlled=True,
                events_int=20,
                n_int=100,
                events_ctrl=40,
                n_ctrl=100,
                intervention="EV high dose",
                comparator="EV low dose",
                outcome_kind="benefit",
                outcome_direction="higher_is_worse",
            )
        ]
    )
    eff = study_effects(st)
    g = grading.grade(eff)
    gap = grading.gap_summary(eff, g)
    r = gap.iloc[0]
    assert r["human_comparison"] == "EV high dose vs EV low dose"
    h = g.iloc[0]
    cert = f"{h['certainty']} certainty" + (
        " (provisional)" if h["evidence_status"] == "provisional" else ""
    )
    assert r["human_certainty"] == cert
    text = render_report(grades=g, gap=gap)
    first = text[: text.index("<nav>")]
    assert (
        html.escape(
            f"a controlled human efficacy result exists for 1: Sepsis, death SMD "
            f"{r['human_smd']:+.2f} (EV high dose vs EV low dose), {cert}"
        )
        in first
    )
    # what the certainty rests on: provisional bodies counted with the reason (the sheet
    # records no risk of bias, so it is not assessed and the body provisional)
    assert (h["evidence_status"], h["risk_of_bias_judgement"]) == ("provisional", "not assessed")
    assert "1 of them provisional (risk of bias not assessed in 1)" in first
