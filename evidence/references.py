"""Reference lists: BibTeX (bibtexparser >= 2) and RIS (Zotero/EndNote exports).

Both readers return a :class:`Bibliography`, a read-only mapping from citation
key to :class:`Reference`.  Broken entries never crash the reader: they are
listed in :attr:`Bibliography.errors` with their line number and the reason.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import rispy

from evidence._validate import check_path
from evidence.errors import ValidationError

__all__ = ["Bibliography", "Reference", "read_bib", "read_ris"]

_NCT = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)
_PMID = re.compile(r"\bPMID:?\s*(\d{1,9})\b", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)", re.IGNORECASE)
_YEAR = re.compile(r"\b(\d{4})\b")
_ENTRY_KEY = re.compile(r"@\s*\w+\s*[{(]\s*([^,\s{}()]+)")


@dataclass(frozen=True, slots=True)
class Reference:
    """One bibliography entry.

    Attributes
    ----------
    key : str
        Citation key.
    entry_type : str
        BibTeX entry type (``article``, ``misc``, ...); RIS types are mapped to
        the nearest BibTeX type.
    title, journal, doi, pmid, nct, url : str or None
        ``doi`` without a ``https://doi.org/`` prefix; ``nct`` upper case
        (``NCT01234567``).
    authors : tuple of str
        Author names as written ("Last, First"), LaTeX braces removed.
    year : int or None
    """

    key: str
    entry_type: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    year: int | None = None
    journal: str | None = None
    doi: str | None = None
    pmid: str | None = None
    nct: str | None = None
    url: str | None = None

    @property
    def has_identifier(self) -> bool:
        """True when the entry can be looked up: it has a DOI, PMID, NCT number or URL."""
        return any((self.doi, self.pmid, self.nct, self.url))


_ERROR_COLUMNS = ("line", "key", "reason")


class Bibliography(Mapping):
    """A read-only mapping ``citation key -> Reference`` with the parse problems.

    Parameters
    ----------
    references : iterable of Reference
        Entries; the first entry with a given key wins, later ones are reported
        in ``errors``.
    errors : pandas.DataFrame, optional
        Problems found while reading: ``line`` (1-based line of the entry in
        the file, missing when unknown), ``key`` and ``reason``.
    source : str, optional
        The file the entries were read from.
    """

    def __init__(
        self,
        references: Iterable[Reference] = (),
        *,
        errors: pd.DataFrame | None = None,
        source: str | None = None,
    ) -> None:
        entries: dict[str, Reference] = {}
        extra: list[dict] = []
        for ref in references:
            if ref.key in entries:
                extra.append({"line": None, "key": ref.key, "reason": f"duplicate key '{ref.key}'"})
                continue
            entries[ref.key] = ref
        self._entries = entries
        frames = [f for f in (errors, pd.DataFrame(extra)) if f is not None and len(f)]
        self._errors = _error_frame(pd.concat(frames, ignore_index=True) if frames else None)
        self.source = source

    def __getitem__(self, key: str) -> Reference:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def errors(self) -> pd.DataFrame:
        """Broken or ignored entries: columns ``line``, ``key``, ``reason``."""
        return self._errors.copy()

    def to_frame(self) -> pd.DataFrame:
        """One row per reference: the :class:`Reference` fields plus ``has_identifier``.

        ``authors`` is joined with ``"; "``.
        """
        cols = [f.name for f in fields(Reference)]
        rows = []
        for ref in self._entries.values():
            row = asdict(ref)
            row["authors"] = "; ".join(ref.authors) if ref.authors else None
            row["has_identifier"] = ref.has_identifier
            rows.append(row)
        frame = pd.DataFrame(rows, columns=[*cols, "has_identifier"])
        frame["year"] = frame["year"].astype("Int64")
        return frame

    def __repr__(self) -> str:
        where = f" from {self.source!r}" if self.source else ""
        return f"<Bibliography{where}: {len(self)} references, {len(self._errors)} problems>"


def _error_frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or not len(frame):
        frame = pd.DataFrame({c: [] for c in _ERROR_COLUMNS})
    out = pd.DataFrame(
        {
            "line": pd.array(frame["line"].tolist(), dtype="Int64"),
            "key": frame["key"].astype(pd.StringDtype()),
            "reason": frame["reason"].astype(pd.StringDtype()),
        }
    )
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# Text helpers

_LATEX_ESCAPES = {r"\&": "&", r"\%": "%", r"\_": "_", r"\$": "$", r"\#": "#", "~": " "}


def _clean(value: str | None) -> str | None:
    """Drop BibTeX braces and simple LaTeX escapes; collapse white space."""
    if value is None:
        return None
    text = str(value)
    for latex, plain in _LATEX_ESCAPES.items():
        text = text.replace(latex, plain)
    text = text.replace("{", "").replace("}", "")
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _doi(value: str | None) -> str | None:
    if not value:
        return None
    found = _DOI.search(value)
    return found.group(1).rstrip(".,;") if found else None


def _nct(*values: str | None) -> str | None:
    for value in values:
        if value:
            found = _NCT.search(value)
            if found:
                return found.group(0).upper()
    return None


def _pmid(explicit: str | None, *values: str | None) -> str | None:
    if explicit and explicit.strip().isdigit():
        return explicit.strip()
    for value in values:
        if value:
            found = _PMID.search(value)
            if found:
                return found.group(1)
    return None


def _year(value: str | None) -> int | None:
    if not value:
        return None
    found = _YEAR.search(str(value))
    return int(found.group(1)) if found else None


# ---------------------------------------------------------------------------
# BibTeX


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise ValidationError(f"{what} file '{path}' does not exist.")
    if not path.is_file():
        raise ValidationError(f"{what} file '{path}' is not a file.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{what} file '{path}' cannot be decoded as UTF-8 (offset {exc.start}); "
            "export it as UTF-8."
        ) from None
    except PermissionError as exc:
        raise ValidationError(
            f"{what} file '{path}' cannot be read ({exc.strerror or 'permission denied'}); "
            "check that you may read it (file permissions)."
        ) from None


def _bib_reason(block) -> str:
    # bibtexparser costs ~10 ms to import: loaded only when a .bib file is read
    from bibtexparser.model import DuplicateBlockKeyBlock, DuplicateFieldKeyBlock

    if isinstance(block, DuplicateBlockKeyBlock):
        return f"duplicate key '{block.key}'; this later entry was ignored"
    if isinstance(block, DuplicateFieldKeyBlock):
        dups = ", ".join(sorted(getattr(block, "duplicate_keys", ()) or ()))
        return f"entry has a field more than once ({dups}); entry ignored"
    message = str(block.error).strip().splitlines()
    return "unparseable entry: " + (message[0] if message else type(block.error).__name__)


def _bib_reference(entry) -> Reference:
    f = {k.lower(): v for k, v in ((fld.key, fld.value) for fld in entry.fields)}

    def text(name: str) -> str | None:
        value = f.get(name)
        if isinstance(value, list):
            value = " and ".join(value)
        return _clean(value) if value is not None else None

    authors = f.get("author") or []
    if isinstance(authors, str):
        authors = [authors]
    url = text("url")
    eprint = text("eprint")
    eprinttype = (text("eprinttype") or text("archiveprefix") or "").lower()
    note = text("note")
    howpublished = text("howpublished")
    pmid_field = text("pmid") or (eprint if eprinttype == "pubmed" else None)
    return Reference(
        key=entry.key,
        entry_type=entry.entry_type.lower(),
        title=text("title"),
        authors=tuple(a for a in (_clean(a) for a in authors) if a),
        year=_year(text("year")),
        journal=text("journal") or text("journaltitle") or text("booktitle"),
        doi=_doi(text("doi")) or (_doi(url) if url and "doi.org/" in url.lower() else None),
        pmid=_pmid(pmid_field, note),
        nct=_nct(text("nct"), eprint, url, howpublished, note),
        url=url,
    )


def read_bib(path) -> Bibliography:
    """Read a BibTeX file with bibtexparser >= 2.

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 ``.bib`` file.

    Returns
    -------
    Bibliography
        Mapping ``key -> Reference``.  ``errors`` lists, with their 1-based
        line, duplicate keys (the first entry is kept), entries with a repeated
        field and blocks that could not be parsed.

    Raises
    ------
    ValidationError
        When the file does not exist, cannot be read (permissions) or is not UTF-8 text.

    Notes
    -----
    ``doi`` comes from the ``doi`` field (or a doi.org ``url``); ``pmid`` from a
    ``pmid`` field, an ``eprint`` with ``eprinttype = {pubmed}`` or "PMID 123"
    in ``note``; ``nct`` from an ``nct`` field or the first NCT number in
    ``eprint``, ``url``, ``howpublished`` or ``note``.
    """
    # bibtexparser costs ~10 ms to import: loaded only when a .bib file is read
    import bibtexparser
    from bibtexparser import middlewares

    path = check_path(path, "path", "read_bib")
    content = _read_text(path, "Bibliography")
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.ERROR)  # failures are reported in .errors instead
    try:
        library = bibtexparser.parse_string(
            content, append_middleware=[middlewares.SeparateCoAuthors()]
        )
    finally:
        logger.setLevel(level)
    references = [_bib_reference(e) for e in library.entries]
    problems = []
    for block in library.failed_blocks:
        key = getattr(block, "key", None)
        if key is None and block.raw:
            found = _ENTRY_KEY.search(block.raw)
            key = found.group(1) if found else None
        line = None if block.start_line is None else block.start_line + 1
        problems.append({"line": line, "key": key, "reason": _bib_reason(block)})
    errors = pd.DataFrame(problems, columns=list(_ERROR_COLUMNS))
    if len(errors):
        errors = errors.sort_values("line", kind="stable")
    return Bibliography(references, errors=errors, source=str(path))


# ---------------------------------------------------------------------------
# RIS

_RIS_TYPES = {
    "JOUR": "article",
    "JFULL": "article",
    "EJOUR": "article",
    "MGZN": "article",
    "NEWS": "article",
    "BOOK": "book",
    "EBOOK": "book",
    "CHAP": "incollection",
    "ECHAP": "incollection",
    "CONF": "inproceedings",
    "CPAPER": "inproceedings",
    "RPRT": "techreport",
    "GOVDOC": "techreport",
    "THES": "phdthesis",
}


def _ris_records(content: str) -> Iterator[tuple[int, str]]:
    """Split RIS text into (1-based start line, record text) at each ``TY  -`` tag."""
    start = None
    lines: list[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        stripped = line.rstrip()
        if stripped.startswith("TY  -"):
            if start is not None:
                yield start, "\n".join(lines)
            start, lines = number, [stripped]
            continue
        if start is None:
            if stripped:
                yield number, stripped  # text outside any record
            continue
        lines.append(stripped)
        if stripped.startswith("ER  -"):
            yield start, "\n".join(lines)
            start, lines = None, []
    if start is not None:
        yield start, "\n".join(lines)


def _ascii_word(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _ris_reference(record: dict, key: str) -> Reference:
    def first(*names: str) -> str | None:
        for name in names:
            value = record.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if value:
                return str(value).strip()
        return None

    def joined(*names: str) -> str:
        parts: list[str] = []
        for name in names:
            value = record.get(name)
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif value:
                parts.append(str(value))
        return " ".join(parts)

    authors = list(record.get("authors") or []) + list(record.get("first_authors") or [])
    urls = record.get("urls") or []
    url = urls[0].strip() if urls else None
    notes = joined("notes", "note", "custom1", "custom2", "research_notes")
    database = (first("name_of_database", "database_provider") or "").lower()
    accession = first("accession_number")
    pmid = accession if accession and "pubmed" in database else None
    ty = (first("type_of_reference") or "").upper()
    return Reference(
        key=key,
        entry_type=_RIS_TYPES.get(ty, "misc"),
        title=first("title", "primary_title", "translated_title"),
        authors=tuple(a.strip() for a in authors if a and a.strip()),
        year=_year(first("year", "publication_year", "date")),
        journal=first(
            "journal_name",
            "secondary_title",
            "alternate_title3",
            "alternate_title1",
            "alternate_title2",
        )
        if ty not in ("BOOK", "EBOOK", "RPRT", "THES", "ELEC", "WEB")
        else None,
        doi=_doi(first("doi")) or (_doi(url) if url and "doi.org/" in url.lower() else None),
        pmid=_pmid(pmid, notes),
        nct=_nct(notes, " ".join(urls), accession),
        url=url,
    )


def read_ris(path) -> Bibliography:
    """Read an RIS file (Zotero, EndNote, Mendeley exports) with rispy.

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 ``.ris`` file.

    Returns
    -------
    Bibliography
        Mapping ``key -> Reference``.  The key is the record's ``ID`` tag when
        present, else generated from the first author's family name and the
        year (``turner2023``; later records with the same stem get ``b``,
        ``c``, ... in file order, so keys are deterministic).  ``errors`` lists
        records that could not be parsed, text outside records and duplicate
        ``ID`` keys, with their 1-based line.

    Raises
    ------
    ValidationError
        When the file does not exist, cannot be read (permissions) or is not UTF-8 text.
    """

    path = check_path(path, "path", "read_ris")
    content = _read_text(path, "RIS")
    parsed: list[tuple[int, dict]] = []
    problems: list[dict] = []
    for line, text in _ris_records(content):
        if not text.startswith("TY  -"):
            problems.append(
                {"line": line, "key": None, "reason": f"text outside a TY...ER record: {text!r}"}
            )
            continue
        if not text.rstrip().endswith("ER  -") and "\nER  -" not in text:
            text = text + "\nER  -"
            why = "record has no closing 'ER  -' tag; read anyway"
            problems.append({"line": line, "key": None, "reason": why})
        try:
            records = rispy.loads(text, skip_unknown_tags=False)
        except Exception as exc:  # rispy raises plain Exceptions on malformed tags
            problems.append({"line": line, "key": None, "reason": f"unparseable RIS record: {exc}"})
            continue
        parsed.extend((line, r) for r in records)

    references = []
    seen: dict[str, int] = {}
    used: set[str] = {str(r.get("id")).strip() for _, r in parsed if r.get("id")}
    for line, record in parsed:
        key = str(record["id"]).strip() if record.get("id") else None
        if key is None:
            authors = list(record.get("authors") or []) + list(record.get("first_authors") or [])
            family = _ascii_word(authors[0].split(",")[0]) if authors else "anon"
            year = _year(str(record.get("year") or record.get("publication_year") or ""))
            stem = f"{family or 'anon'}{year or 'nd'}"
            key = stem
            suffix = ord("a")
            while key in used:
                suffix += 1
                key = f"{stem}{chr(suffix)}"
            used.add(key)
        if key in seen:
            problems.append(
                {
                    "line": line,
                    "key": key,
                    "reason": f"duplicate key '{key}' (first on line {seen[key]}); "
                    "this later record was ignored",
                }
            )
            continue
        seen[key] = line
        references.append(_ris_reference(record, key))
    errors = pd.DataFrame(problems, columns=list(_ERROR_COLUMNS))
    if len(errors):
        errors = errors.sort_values("line", kind="stable")
    return Bibliography(references, errors=errors, source=str(path))
