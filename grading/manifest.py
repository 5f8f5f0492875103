"""Provenance manifest of a run: inputs with SHA-256, row counts, versions, scheme, outputs.

``manifest.json`` is written with sorted keys and a fixed layout, so two runs on the same input
give byte-identical manifests apart from the ``timestamp`` field (which honours
``SOURCE_DATE_EPOCH`` for reproducible builds).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import evidence

__all__ = [
    "MANIFEST_VERSION",
    "PACKAGES",
    "sha256_bytes",
    "sha256_file",
    "file_record",
    "frame_record",
    "package_versions",
    "run_timestamp",
    "build_manifest",
    "write_manifest",
    "read_manifest",
]

#: Layout version of ``manifest.json``; bumped when a field changes meaning.
MANIFEST_VERSION = 1

#: Distributions whose versions are recorded (``python`` is the interpreter).
PACKAGES: tuple[str, ...] = (
    "evigap",
    "python",
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "statsmodels",
    "bibtexparser",
)

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: str | os.PathLike, *, role: str | None = None) -> dict[str, Any]:
    """Describe one file: ``path`` (as given), ``name``, ``bytes`` and ``sha256``.

    Parameters
    ----------
    path : path-like
        The file.
    role : str, optional
        What the file is in the run (``"studies"``, ``"bib"``, ...); stored as ``role``.
    """
    p = Path(path)
    record: dict[str, Any] = {
        "path": str(p),
        "name": p.name,
        "bytes": p.stat().st_size,
        "sha256": sha256_file(p),
    }
    if role is not None:
        record["role"] = role
    return record


def frame_record(frame, *, role: str | None = None) -> dict[str, Any]:
    """Describe an in-memory table passed instead of a file.

    The digest is over the table written as CSV (``index=False``, ``lineterminator="\\n"``), so
    the same table always gives the same digest.
    """
    data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    record: dict[str, Any] = {
        "path": None,
        "name": "<DataFrame>",
        "bytes": len(data),
        "sha256": sha256_bytes(data),
        "rows": int(len(frame)),
    }
    if role is not None:
        record["role"] = role
    return record


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution (``"not installed"`` when absent).

    ``evigap`` falls back to ``evidence.__version__`` when running from an uninstalled checkout.
    """
    # importlib.metadata costs ~10-30 ms: loaded only when the version is asked for
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for name in packages:
        if name == "python":
            out[name] = platform.python_version()
            continue
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            if name == "evigap":
                out[name] = str(getattr(evidence, "__version__", "0+unknown"))
            else:
                out[name] = "not installed"
    return out


def run_timestamp() -> str:
    """UTC timestamp (ISO 8601, seconds); ``SOURCE_DATE_EPOCH`` wins when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
    else:
        moment = datetime.now(tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, paths and tuples into plain JSON values."""
    if type(value).__name__ in {"NAType", "NaTType"}:  # pandas missing values
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, os.PathLike):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and value != value:  # NaN is not valid JSON
        return None

    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def build_manifest(
    *,
    inputs: Mapping[str, Mapping[str, Any] | None],
    counts: Mapping[str, int],
    scheme: Mapping[str, Any] | None = None,
    outputs: Iterable[str | os.PathLike] = (),
    out_dir: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Assemble the manifest dictionary.

    Parameters
    ----------
    inputs : mapping
        Role (``"studies"``, ``"bib"``, ``"regulatory"``, ``"claims"``, ``"scheme"``) to a record
        from :func:`file_record` / :func:`frame_record`, or ``None`` when not given.
    counts : mapping
        Row counts, at least ``rows_in``, ``rows_accepted``, ``rows_rejected``.
    scheme : mapping, optional
        The grading scheme's settings (e.g. ``tomllib.loads(scheme.to_toml())``).
    outputs : iterable of path-like
        Files written by the run; each is hashed and listed relative to ``out_dir``, sorted.
    out_dir : path-like, optional
        The output folder (for relative output names).
    extra : mapping, optional
        Further fields (merged at top level).
    timestamp : str, optional
        Defaults to :func:`run_timestamp`.

    Returns
    -------
    dict
        Keys ``manifest_version``, ``tool``, ``timestamp``, ``inputs``, ``counts``,
        ``versions``, ``scheme``, ``outputs`` (list of ``{"file", "bytes", "sha256"}``) and any
        ``extra`` keys.
    """
    base = Path(out_dir) if out_dir is not None else None
    output_records: list[dict[str, Any]] = []
    for path in outputs:
        p = Path(path)
        if not p.is_file():
            continue
        name = p.relative_to(base).as_posix() if base is not None else p.name
        output_records.append({"file": name, "bytes": p.stat().st_size, "sha256": sha256_file(p)})
    output_records.sort(key=lambda r: r["file"])
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "evigap",
        "timestamp": timestamp if timestamp is not None else run_timestamp(),
        "inputs": {role: (dict(rec) if rec is not None else None) for role, rec in inputs.items()},
        "counts": dict(counts),
        "versions": package_versions(),
        "scheme": dict(scheme) if scheme is not None else None,
        "outputs": output_records,
    }
    if extra:
        manifest.update(extra)
    return _jsonable(manifest)


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``manifest`` as UTF-8 JSON with sorted keys, two-space indent and a final newline."""
    p = Path(path)
    text = json.dumps(_jsonable(manifest), indent=2, sort_keys=True, ensure_ascii=False)
    p.write_text(text + "\n", encoding="utf-8", newline="\n")
    return p


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``manifest.json`` written by :func:`write_manifest`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
