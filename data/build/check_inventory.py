"""Check the bundled exosome evidence base against its source ledger and re-count it.

Run from a clone (no network, no files outside the repository)::

    python data/build/check_inventory.py                 # checks + accounting, exit 1 on a problem
    python data/build/check_inventory.py --write-readme  # also rewrite the generated blocks of
                                                          # data/README.md
    python data/build/check_inventory.py --inventory /path/to/exosome-evidence.md
                                                          # also compare the ledger with the
                                                          # inventory file it was transcribed from

Inputs: ``data/build/sources.csv`` (the ledger: one row per source item of the evidence inventory
``exosome-evidence.md`` (``#1``-``#117``), of the arm-level file ``exosome-human-numbers.md``
(``H1``, ``E1``, ``S1``, ``A1``, ...) and of the primary sources looked up in 2026-12 (``P1``...),
with its status, what became of it and why), ``data/exosome_studies.csv``, ``data/regulatory.csv``,
``data/claims.csv`` and ``references.bib``.

What is checked (each failure is one line naming the item, row or key):

* the ledger: unique items, known dispositions, a reason for every item left out;
* every used item is found in the data (study rows cite it in ``notes`` as ``inventory #n`` or
  ``human-numbers Hn``, or carry its citation key; regulatory/claims rows carry its key);
* every item the data cite is in the ledger and is not an item left out or unverified, and no
  left-out or unverified item's citation key is cited;
* every cited key has a ``references.bib`` entry with a DOI, PMID, NCT id or URL;
* one trial, one record: a registry id belongs to one ``study_id``;
* ``outcome_level`` is set on every record that names a measured or registered outcome (empty
  only on registry-only and not-read records), in vitro records are ``mechanistic`` and harm
  records ``clinical``;
* claims: counts are whole numbers, an exosome count never exceeds the count it is part of, and a
  count says which products it counts.

The accounting (items used / left out / unverified, rows per stream, indication, data type and
outcome level) is printed and, with ``--write-readme``, written between the
``<!-- generated:... -->`` markers of ``data/README.md``; ``tests/test_data_build.py`` fails when
the README and the data disagree.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
LEDGER = DATA / "build" / "sources.csv"
STUDIES = DATA / "exosome_studies.csv"
REGULATORY = DATA / "regulatory.csv"
CLAIMS = DATA / "claims.csv"
BIB = ROOT / "references.bib"
README = DATA / "README.md"

LEDGER_COLUMNS = [
    "source",
    "item",
    "status",
    "title",
    "citation_keys",
    "disposition",
    "reason",
    "where_read",
]
SOURCES = ("inventory", "human_numbers", "added_2026_12")
USES = ("study_rows", "regulatory", "claims", "notes_only")
NOT_USED = ("left_out", "unverified")
ID_FIELDS = ("doi", "pmid", "nct", "url")
LEVELS = ("clinical", "functional", "surrogate", "mechanistic")
# outcomes that record no measured or registered outcome (registry-only / not read)
NO_OUTCOME = re.compile(r"^registered trial \(no results|^participant flow|\(results not read\)$")

_INV = re.compile(r"inventory\s+((?:#?\d+\s*(?:/|,|and)?\s*)+)")
_HN = re.compile(r"human-numbers\s+((?:[HESA]\d{1,2}(?:-[HESA]?\d{1,2})?\s*(?:/|,|and)?\s*)+)")


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _columns(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def note_items(notes: str) -> set[str]:
    """Ledger items cited in a ``notes`` cell ('inventory #65/66', 'human-numbers E1-E8, H4/S2')."""
    found: set[str] = set()
    for seg in _INV.findall(notes):
        found |= {f"#{n}" for n in re.findall(r"\d+", seg)}
    for seg in _HN.findall(notes):
        for a, lo, _b, hi in re.findall(r"([HESA])(\d{1,2})(?:-([HESA]?)(\d{1,2}))?", seg):
            if hi:
                found |= {f"{a}{i}" for i in range(int(lo), int(hi) + 1)}
            else:
                found.add(f"{a}{lo}")
    return found


def bib_entries(path: Path = BIB) -> dict[str, dict[str, str]]:
    """Key -> {field: value} for the fields that identify an entry (plain-text parse)."""
    text = path.read_text(encoding="utf-8")
    entries: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"^@\w+\{([^,\s]+),(.*?)^\}", text, flags=re.M | re.S):
        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{(.*?)\},?\s*$", m.group(2), flags=re.M))
        entries[m.group(1)] = {k.lower(): v for k, v in fields.items()}
    return entries


def load() -> dict[str, object]:
    return {
        "ledger": _read(LEDGER),
        "studies": _read(STUDIES),
        "regulatory": _read(REGULATORY),
        "claims": _read(CLAIMS),
        "bib": bib_entries(),
        "ledger_columns": _columns(LEDGER),
    }


def _uses(item: dict[str, str]) -> set[str]:
    return set(item["disposition"].split("+"))


def check(d: dict | None = None) -> list[str]:
    """All problems found, one line each (empty when the data agree with the ledger)."""
    d = d or load()
    ledger, studies = d["ledger"], d["studies"]
    reg, claims, bib = d["regulatory"], d["claims"], d["bib"]
    problems: list[str] = []
    if d["ledger_columns"] != LEDGER_COLUMNS:
        problems.append(f"ledger columns {d['ledger_columns']} != {LEDGER_COLUMNS}")
    seen: set[str] = set()
    by_item: dict[str, dict[str, str]] = {}
    for it in ledger:
        name = it["item"]
        if name in seen:
            problems.append(f"ledger: item {name} listed twice")
        seen.add(name)
        by_item[name] = it
        if it["source"] not in SOURCES:
            problems.append(f"ledger {name}: unknown source {it['source']!r}")
        uses = _uses(it)
        if not uses <= set(USES) | set(NOT_USED) or (uses & set(NOT_USED) and len(uses) > 1):
            problems.append(f"ledger {name}: bad disposition {it['disposition']!r}")
        if uses & {"left_out", "unverified", "notes_only"} and not it["reason"]:
            problems.append(f"ledger {name}: {it['disposition']} without a reason")
        if it["status"].startswith("UNVERIFIED") and "unverified" not in uses:
            problems.append(f"ledger {name}: UNVERIFIED item used")

    cited_notes: dict[str, list[str]] = {}
    for i, r in enumerate(studies):
        for name in note_items(r["notes"]):
            cited_notes.setdefault(name, []).append(f"row {i} ({r['study_id']})")
    study_keys = {r["citation_key"] for r in studies}
    reg_keys = {r["citation_key"] for r in reg}
    claim_keys = {r["citation_key"] for r in claims}
    all_keys = study_keys | reg_keys | claim_keys

    for name, where in sorted(cited_notes.items()):
        it = by_item.get(name)
        if it is None:
            problems.append(f"studies {where[0]}: cites {name}, which is not in the ledger")
        elif _uses(it) & set(NOT_USED):
            problems.append(f"studies {where[0]}: cites {name}, which the ledger leaves out")
    ledger_keys: set[str] = set()
    for it in ledger:
        keys = {k for k in it["citation_keys"].split(";") if k}
        uses = _uses(it)
        if uses & set(NOT_USED):
            for k in sorted(keys & all_keys):
                problems.append(f"ledger {it['item']}: {it['disposition']} but key {k} is cited")
            continue
        ledger_keys |= keys
        if "study_rows" in uses and it["item"] not in cited_notes and not keys & study_keys:
            problems.append(f"ledger {it['item']}: study_rows but no study row cites it")
        if "notes_only" in uses and it["item"] not in cited_notes:
            problems.append(f"ledger {it['item']}: notes_only but no note cites it")
        if "regulatory" in uses and not keys & reg_keys:
            problems.append(f"ledger {it['item']}: regulatory but its key is not in regulatory.csv")
        if "claims" in uses and not keys & claim_keys:
            problems.append(f"ledger {it['item']}: claims but its key is not in claims.csv")
    inventory_keys = {k for it in ledger for k in it["citation_keys"].split(";") if k}
    for k in sorted(all_keys):
        entry = bib.get(k)
        if entry is None:
            problems.append(f"citation key {k}: no references.bib entry")
        elif not any(entry.get(f, "").strip() for f in ID_FIELDS):
            problems.append(f"citation key {k}: bib entry has no DOI, PMID, NCT or URL")
        if k in (reg_keys | claim_keys) and k not in inventory_keys:
            problems.append(f"citation key {k}: cited by a side table but not in the ledger")

    trials: dict[str, set[str]] = {}
    for i, r in enumerate(studies):
        if r["registry_id"]:
            trials.setdefault(r["registry_id"], set()).add(r["study_id"])
        tag = f"studies row {i} ({r['study_id']} / {r['outcome']})"
        if not r["where_read"] or not r["notes"]:
            problems.append(f"{tag}: empty where_read or notes")
        level = r["outcome_level"]
        if level and level not in LEVELS:
            problems.append(f"{tag}: outcome_level {level!r} not in {LEVELS}")
        if not level and not NO_OUTCOME.search(r["outcome"]):
            problems.append(f"{tag}: names an outcome but has no outcome_level")
        if level and NO_OUTCOME.search(r["outcome"]):
            problems.append(f"{tag}: outcome_level on a record without a measured outcome")
        if r["stream"] == "in_vitro" and level != "mechanistic":
            problems.append(f"{tag}: in vitro record should be mechanistic")
        if r["outcome_kind"] == "harm" and level and level != "clinical":
            problems.append(f"{tag}: harm record should be clinical")
        if r["model"] == "meta_analysis" and not r["k_studies"]:
            problems.append(f"{tag}: meta_analysis without k_studies")
    for reg_id, ids in sorted(trials.items()):
        if len(ids) > 1:
            problems.append(
                f"registry id {reg_id} appears under {sorted(ids)}: one trial, one study_id"
            )

    for c in claims:
        n, nx = c.get("n_businesses", ""), c.get("n_businesses_exosome", "")
        for col, v in (("n_businesses", n), ("n_businesses_exosome", nx)):
            if v and not v.isdigit():
                problems.append(f"claim {c['claim_id']}: {col} {v!r} is not a whole number")
        if n.isdigit() and nx.isdigit() and int(nx) > int(n):
            problems.append(f"claim {c['claim_id']}: n_businesses_exosome > n_businesses")
        if (n or nx) and not c.get("products_counted", ""):
            problems.append(f"claim {c['claim_id']}: a count without products_counted")
    return problems


def accounting(d: dict | None = None) -> dict[str, object]:
    """Counts behind data/README.md (all from the ledger and the data files)."""
    d = d or load()
    ledger, studies = d["ledger"], d["studies"]
    acc: dict[str, object] = {}
    for src in SOURCES:
        items = [it for it in ledger if it["source"] == src]
        used = [it for it in items if not _uses(it) & set(NOT_USED)]
        acc[src] = {
            "items": len(items),
            "status": Counter(it["status"].split(" ")[0] for it in items),
            "used": len(used),
            "used_status": Counter(it["status"].split(" ")[0] for it in used),
            "left_out": [it for it in items if "left_out" in _uses(it)],
            "unverified": [it for it in items if "unverified" in _uses(it)],
            "notes_only": [it for it in items if "notes_only" in _uses(it)],
        }
    acc["rows"] = len(studies)
    acc["study_ids"] = len({r["study_id"] for r in studies})
    acc["citation_keys"] = len({r["citation_key"] for r in studies})
    acc["stream"] = Counter(r["stream"] for r in studies)
    acc["data_type"] = Counter(r["data_type"] for r in studies)
    acc["outcome_level"] = Counter(r["outcome_level"] or "(none)" for r in studies)
    table: dict[str, Counter] = {}
    for r in studies:
        table.setdefault(r["indication_label"], Counter())[r["stream"]] += 1
    acc["by_indication"] = dict(sorted(table.items()))
    acc["regulatory_rows"] = len(d["regulatory"])
    acc["claims_rows"] = len(d["claims"])
    acc["bib_entries"] = len(d["bib"])
    return acc


def _items(its: list[dict[str, str]]) -> str:
    return ", ".join(it["item"] for it in its)


def readme_blocks(d: dict | None = None) -> dict[str, str]:
    """The generated parts of data/README.md, keyed by marker name."""
    d = d or load()
    a = accounting(d)
    inv, hn, add = a["inventory"], a["human_numbers"], a["added_2026_12"]
    reasons: dict[str, list[str]] = {}
    for it in inv["left_out"]:
        reasons.setdefault(it["reason"], []).append(it["item"])
    added_used = [
        it
        for it in d["ledger"]
        if it["source"] == "added_2026_12" and not _uses(it) & set(NOT_USED)
    ]
    lines = [
        "`data/build/check_inventory.py` re-checks this against the ledger "
        "`data/build/sources.csv`. "
        f"Of the inventory's {inv['items']} items ({inv['status']['VERIFIED']} VERIFIED, "
        f"{inv['status']['PARTIAL']} PARTIAL, {inv['status']['UNVERIFIED']} UNVERIFIED), "
        f"{inv['used']} are used ({inv['used_status']['VERIFIED']} VERIFIED, "
        f"{inv['used_status']['PARTIAL']} PARTIAL), {len(inv['left_out'])} are left out with a "
        f"reason and the {len(inv['unverified'])} UNVERIFIED items ({_items(inv['unverified'])}) "
        f"are absent. Of the {hn['items']} items of the arm-level file, {hn['used']} are used "
        f"({len(hn['notes_only'])} of them, {_items(hn['notes_only'])}, only quoted in notes) and "
        f"{len(hn['left_out'])} left out ({_items(hn['left_out'])}). Of the {add['items']} facts "
        f"looked up in primary sources in 2026-12, {add['used']} were read there and are used "
        f"({_items(added_used)}); "
        f"{len(add['left_out']) + len(add['unverified'])} could not be read in a primary source "
        "and stay out (listed below).",
        "",
        "Inventory items left out, by reason:",
        "",
    ]
    lines += [f"* {reason}: {', '.join(items)}" for reason, items in reasons.items()]
    lines += ["", "Facts not found in a primary source (2026-12 searches), so not in the data:", ""]
    lines += [
        f"* {it['item']} {it['title']}: {it['reason']}"
        for it in add["left_out"] + add["unverified"]
    ]
    accounting_block = "\n".join(lines)

    st = a["stream"]
    rows = [
        f"Rows per stream: human {st['human']}, animal {st['animal']}, in vitro {st['in_vitro']} "
        f"({a['rows']} rows, {a['study_ids']} study ids, {a['citation_keys']} citation keys).",
        "Rows per data_type: "
        + ", ".join(f"{k} {v}" for k, v in a["data_type"].most_common())
        + ".",
        "Rows per outcome_level: "
        + ", ".join(
            f"{k} {a['outcome_level'][k]}" for k in (*LEVELS, "(none)") if a["outcome_level"][k]
        )
        + " ((none): registry-only or not-read records that name no measured outcome).",
        "",
        "| indication_label | animal | human | in vitro | rows |",
        "|---|---|---|---|---|",
    ]
    for lab, c in a["by_indication"].items():
        rows.append(
            f"| {lab} | {c['animal']} | {c['human']} | {c['in_vitro']} | {sum(c.values())} |"
        )
    rows.append(f"| total | {st['animal']} | {st['human']} | {st['in_vitro']} | {a['rows']} |")
    files_block = "\n".join(
        [
            "| file | what | rows |",
            "|---|---|---|",
            "| `exosome_studies.csv` | exosome / extracellular-vesicle (EV) therapy evidence, "
            f"study-sheet schema (`data/SCHEMA.md`) | {a['rows']} |",
            "| `regulatory.csv` | regulator notices and regulatory milestones (`indication, "
            "jurisdiction, status, date, detail, citation_key, where_read`) | "
            f"{a['regulatory_rows']} |",
            "| `claims.csv` | marketing claims and marketplace counts (`claim_id, indication, "
            "claim, claimant, n_businesses, n_businesses_exosome, products_counted, citation_key, "
            f"where_read`) | {a['claims_rows']} |",
            "| `../references.bib` | one entry per `citation_key` used above (each with a DOI, "
            "PMID, NCT id or URL) plus the other entries of the source bibliography | "
            f"{a['bib_entries']} entries |",
            "| `bcg.csv`, `normand1999.csv`, `hackshaw1998.csv` | classic meta-analysis datasets "
            "from R `metadat` (see the end of this file) | 13, 9, 37 |",
            "| `datasets.csv` | index used by `evidence.load_dataset()` | |",
            "| `build/` | `sources.csv` (the source ledger) and `check_inventory.py` (the checks "
            "and counts of this file) | |",
        ]
    )
    return {"files": files_block, "accounting": accounting_block, "counts": "\n".join(rows)}


def _marker(name: str) -> re.Pattern:
    return re.compile(
        rf"(<!-- generated:{name} -->\n)(.*?)\n?(<!-- /generated:{name} -->)", flags=re.S
    )


def readme_problems(text: str, blocks: dict[str, str]) -> list[str]:
    out = []
    for name, body in blocks.items():
        m = _marker(name).search(text)
        if m is None:
            out.append(f"data/README.md: no <!-- generated:{name} --> block")
        elif m.group(2) != body:
            out.append(
                f"data/README.md: block {name!r} is out of date "
                "(run python data/build/check_inventory.py --write-readme)"
            )
    return out


def write_readme(blocks: dict[str, str], path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    for name, body in blocks.items():
        text, n = _marker(name).subn(
            lambda m, body=body: m.group(1) + body + "\n" + m.group(3), text
        )
        if n != 1:
            raise SystemExit(f"{path}: expected one <!-- generated:{name} --> block, found {n}")
    path.write_text(text, encoding="utf-8")


def compare_inventory(path: Path, ledger: list[dict[str, str]]) -> list[str]:
    """Item numbers and statuses of the inventory file vs the ledger (optional, local only)."""
    problems = []
    want = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| (\d+) \| (?:[^|]*\|){8} (VERIFIED|PARTIAL|UNVERIFIED)", line)
        if m:
            want[f"#{m.group(1)}"] = m.group(2)
    have = {it["item"]: it["status"] for it in ledger if it["source"] == "inventory"}
    for item in sorted(set(want) | set(have), key=lambda s: int(s[1:])):
        if want.get(item) != have.get(item):
            problems.append(
                f"{item}: inventory says {want.get(item)}, ledger says {have.get(item)}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--inventory", type=Path, help="exosome-evidence.md to compare the ledger with")
    args = ap.parse_args(argv)
    d = load()
    problems = check(d)
    if args.inventory:
        problems += compare_inventory(args.inventory, d["ledger"])
    blocks = readme_blocks(d)
    if args.write_readme:
        write_readme(blocks)
    problems += readme_problems(README.read_text(encoding="utf-8"), blocks)
    a = accounting(d)
    inv = a["inventory"]
    print(
        f"inventory: {inv['items']} items, {inv['used']} used, {len(inv['left_out'])} left out, "
        f"{len(inv['unverified'])} unverified"
    )
    print(
        f"studies: {a['rows']} rows, {a['study_ids']} study ids; "
        f"regulatory {a['regulatory_rows']}, claims {a['claims_rows']}"
    )
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
