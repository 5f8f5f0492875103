"""Human-readable labels for indication keys, model tags and phases (no snake_case in outputs)."""

from __future__ import annotations

__all__ = ["indication_label", "model_label", "phase_label"]

_UPPER = {
    "ali": "ALI",
    "ards": "ARDS",
    "gvhd": "GVHD",
    "covid19": "COVID-19",
    "ms": "MS",
    "als": "ALS",
    "tbi": "TBI",
    "copd": "COPD",
    "ipf": "IPF",
    "mi": "MI",
    "bpd": "BPD",
}
_MODELS = {
    "cell_culture": "cell culture",
    "non_human_primate": "non-human primate",
    "other_animal": "other animal",
    "phase_1": "phase 1",
    "phase_1_2": "phase 1/2",
    "phase_2": "phase 2",
    "phase_2_3": "phase 2/3",
    "phase_3": "phase 3",
    "phase_4": "phase 4",
    "case_control": "case-control",
    "cross_sectional": "cross-sectional",
    "case_series": "case series",
    "case_report": "case report",
    "adverse_event_report": "adverse-event report",
    "clinical_trial": "trial (phase not stated)",
    "meta_analysis": "meta-analysis",
}


def indication_label(key: object) -> str:
    """'ali_ards' -> 'ALI / ARDS', 'acne_scars' -> 'Acne scars', 'all_indications' ->
    'All indications'; text that is not snake_case is returned as is."""
    text = "" if key is None else str(key)
    if not text or " " in text or text != text.lower():
        return text
    words = [w for w in text.split("_") if w]
    if not words:
        return text
    if words == ["ali", "ards"]:
        return "ALI / ARDS"
    out = [_UPPER.get(w, w) for w in words]
    first = out[0]
    out[0] = first if first in _UPPER.values() else first[:1].upper() + first[1:]
    return " ".join(out)


def model_label(model: object) -> str:
    """A model tag as words ('phase_1_2' -> 'phase 1/2')."""
    text = "" if model is None else str(model)
    return _MODELS.get(text, text.replace("_", " "))


def phase_label(phase: object) -> str:
    """A phase tag as words; None -> 'none'."""
    if phase is None or (isinstance(phase, float) and phase != phase):
        return "none"
    return model_label(phase)
