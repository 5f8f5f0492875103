"""The output folder of a run: atomic, locked, and owned.

``evigap run --out DIR`` never writes into ``DIR`` directly.  :class:`OutputFolder`

1. refuses unusable targets up front (an empty name, a file, the current folder or one of its
   parents, a folder that holds one of the run's inputs, a ``manifest.json`` evigap did not
   write);
2. takes a lock beside ``DIR`` (``.DIR.evigap-lock``; ``flock``, so a killed run never leaves a
   stale lock) and refuses a second run into the same folder;
3. gives the run a fresh staging folder beside ``DIR`` (``DIR.incomplete-<pid>-<random>``,
   holding ``INCOMPLETE.txt`` until the run is complete);
4. on :meth:`OutputFolder.commit`, carries files evigap did not write from the old ``DIR`` into
   the staging folder (hard links: never copied, never moved), swaps the staging folder and
   ``DIR`` in one ``renameat2(RENAME_EXCHANGE)`` call (two renames where the system lacks it),
   then removes the previous results: only files listed in a ``manifest.json`` this
   installation wrote (its SHA-256 is recorded in evigap's state folder) whose SHA-256 still
   matches, and the second links of carried-over files;
5. on failure or interruption removes its own staging folder, so ``DIR`` still holds the
   previous complete results.  A run killed outright (SIGKILL, power loss) leaves the staging
   folder, clearly named and marked with ``INCOMPLETE.txt``; ``DIR`` is untouched.

Ownership is recorded outside the folder, in ``$EVIGAP_STATE_DIR`` (default
``$XDG_STATE_HOME/evigap`` or ``~/.local/state/evigap``), ``manifests/<sha256>``: a
``manifest.json`` whose digest is not recorded there (forged, edited, copied from another
machine) is never trusted, and nothing it lists is removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock, OutputLock falls back to an exclusive lock file
    fcntl = None  # type: ignore[assignment]

import ctypes
import glob
import sys
import tempfile

from evidence.errors import ValidationError
from grading.manifest import sha256_file

__all__ = [
    "INCOMPLETE_MARKER",
    "OutputFolder",
    "OutputFolderError",
    "RunLockedError",
    "check_out_dir",
    "state_dir",
    "is_recorded_manifest",
    "record_manifest",
]

#: File that marks a folder as an unfinished run.
INCOMPLETE_MARKER = "INCOMPLETE.txt"
_MANIFEST = "manifest.json"
#: Foreign files carried over into a new results folder at most (more: refuse, the folder
#: is not a results folder).
MAX_FOREIGN_FILES = 200


class OutputFolderError(ValidationError):
    """The output folder cannot be used (the message says why and what to do)."""


class RunLockedError(OutputFolderError):
    """Another evigap run is writing to the same output folder."""


# --------------------------------------------------------------------------- ownership


def state_dir() -> Path:
    """evigap's state folder (``$EVIGAP_STATE_DIR``, else ``$XDG_STATE_HOME/evigap``, else
    ``~/.local/state/evigap``)."""
    env = os.environ.get("EVIGAP_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "evigap"


def _registry() -> Path:
    return state_dir() / "manifests"


def record_manifest(digest: str) -> bool:
    """Record that this installation wrote the manifest with SHA-256 ``digest``.

    Returns False when the state folder cannot be written (the next run into that folder then
    treats its files as not evigap's and keeps them).
    """
    try:
        reg = _registry()
        reg.mkdir(parents=True, exist_ok=True)
        (reg / digest).touch()
        return True
    except OSError:
        return False


def is_recorded_manifest(digest: str) -> bool:
    """True when a ``manifest.json`` with SHA-256 ``digest`` was written by this installation."""
    if not digest or not all(c in "0123456789abcdef" for c in digest):
        return False
    return (_registry() / digest).is_file()


# --------------------------------------------------------------------------- checks


def _as_path(value: Any) -> Path | None:
    if isinstance(value, str | os.PathLike) and str(value).strip():
        text = os.fspath(value)
        if isinstance(text, str) and "\n" not in text:  # TOML text is not a path
            return Path(text)
    return None


def check_out_dir(out: Any, inputs: Iterable[Any] = ()) -> Path:
    """Validate ``--out`` before any work; returns it as a Path.

    Refused: an empty name, an existing file, the current folder or one of its parents (the
    folder is replaced as a whole), and a folder that holds one of ``inputs`` (paths; other
    values are ignored).

    Raises
    ------
    OutputFolderError
    """
    if out is None or not isinstance(out, str | os.PathLike) or not str(os.fspath(out)).strip():
        raise OutputFolderError(
            "The output folder (--out / out_dir) is empty; give the name of a folder for the "
            "results, e.g. --out evigap-results."
        )
    path = Path(os.fspath(out))
    if path.is_symlink() and path.is_dir():
        path = path.resolve()  # replace the folder the link points to, keep the link
    if path.exists() and not path.is_dir():
        raise OutputFolderError(
            f"The output folder '{path}' is an existing file; give a folder name."
        )
    real = path.resolve()
    if real == Path(real.anchor):
        raise OutputFolderError(f"The output folder '{path}' is the root folder.")
    cwd = Path.cwd().resolve()
    if cwd == real or cwd.is_relative_to(real):
        raise OutputFolderError(
            f"The output folder '{path}' is the current folder or contains it; evigap replaces "
            "its output folder as a whole. Give a folder of its own, e.g. --out "
            "evigap-results."
        )
    for item in inputs:
        p = _as_path(item)
        if p is None or not p.exists():
            continue
        rp = p.resolve()
        if rp == real or rp.is_relative_to(real):
            raise OutputFolderError(
                f"The input '{p}' is inside the output folder '{path}'; evigap never writes "
                "where its inputs are. Give another --out folder or move the input."
            )
    return path


def _sha256(path: Path) -> str:

    return sha256_file(path)


def _inventory(out: Path) -> tuple[dict[str, str], list[str], str | None]:
    """(owned files -> sha256, foreign entries, owned manifest digest) of an existing folder.

    Owned: ``manifest.json`` whose digest this installation recorded, and every file it lists
    whose SHA-256 still matches.  Everything else (files, symlinks, empty folders) is foreign.
    """
    if not out.is_dir():
        return {}, [], None
    owned: dict[str, str] = {}
    manifest_digest = None
    mpath = out / _MANIFEST
    if mpath.is_file() and not mpath.is_symlink():
        digest = _sha256(mpath)
        if is_recorded_manifest(digest):
            try:
                data = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict) and data.get("tool") == "evigap":
                manifest_digest = digest
                owned[_MANIFEST] = digest
                for entry in data.get("outputs") or []:
                    name = entry.get("file") if isinstance(entry, dict) else None
                    sha = entry.get("sha256") if isinstance(entry, dict) else None
                    if not isinstance(name, str) or not isinstance(sha, str):
                        continue
                    p = out / name
                    if (
                        ".." in Path(name).parts
                        or Path(name).is_absolute()
                        or p.is_symlink()
                        or not p.is_file()
                    ):
                        continue
                    if _sha256(p) == sha:
                        owned[Path(name).as_posix()] = sha
    foreign: list[str] = []
    for root, dirs, files in os.walk(out):
        rel_root = Path(root).relative_to(out)
        for d in list(dirs):
            full = Path(root) / d
            if full.is_symlink():
                foreign.append((rel_root / d).as_posix())
                dirs.remove(d)
            elif not any(full.iterdir()):
                foreign.append((rel_root / d).as_posix() + "/")
        for f in files:
            rel = (rel_root / f).as_posix()
            if rel not in owned:
                foreign.append(rel)
    return owned, sorted(foreign), manifest_digest


# --------------------------------------------------------------------------- lock


class _Lock:
    """An exclusive ``flock`` on ``.NAME.evigap-lock`` beside the output folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.parent / f".{out.name}.evigap-lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:  # no flock (Windows): an exclusive lock file
            self._acquire_exclusive_file()
            return
        for _ in range(50):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = ""
                try:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                except OSError:
                    pass
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    who = f" ({holder})" if holder else ""
                    raise RunLockedError(
                        f"Another evigap run{who} is writing to '{self.out}'. "
                        "Wait for it to finish or choose another --out folder."
                    ) from None
                raise
            try:  # the file we locked must still be the one at the path (see release)
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            os.pwrite(fd, f"pid {os.getpid()}, started {stamp}\n".encode(), 0)
            self.fd = fd
            return
        raise OutputFolderError(f"Could not take the lock '{self.path}'.")

    def _acquire_exclusive_file(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RunLockedError(
                f"Another evigap run is writing to '{self.out}' (lock file '{self.path}'). "
                "Wait for it to finish or choose another --out folder; if no run is going "
                "on, delete the lock file."
            ) from None
        os.write(fd, f"pid {os.getpid()}\n".encode())
        os.close(fd)
        self.fd = -1  # held by existence: release() deletes the file

    def release(self) -> None:
        if self.fd is None:
            return
        if self.fd == -1:
            try:
                self.path.unlink()
            except OSError:
                pass
            self.fd = None
            return
        try:
            self.path.unlink()  # unlink while locked: a waiter re-checks the inode
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


# --------------------------------------------------------------------------- swap


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    system or file system cannot."""

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


class _Signals:
    """Hold SIGINT/SIGTERM while the folder is swapped (delivered right after)."""

    def __enter__(self) -> _Signals:
        self.blocked = False
        if threading.current_thread() is threading.main_thread() and hasattr(
            signal, "pthread_sigmask"
        ):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            self.blocked = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _marker_text(pid: int, what: str) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (
        f"This folder is {what} (evigap, process {pid}, {stamp}).\n"
        "Its files are NOT a complete set of results. It is safe to delete this folder.\n"
    )


class OutputFolder:
    """Atomic, locked output folder of one run (see the module docstring).

    Use as ``folder = OutputFolder(out, inputs=[...]).open()``; write into ``folder.stage``;
    then ``folder.commit()``; always ``folder.close()`` (removes the staging folder if the
    run did not commit, and releases the lock).

    Attributes
    ----------
    out : Path
        The final folder.
    stage : Path
        Where the run writes (exists after :meth:`open`).
    notes : list of str
        What commit did that the user should know (e.g. files carried over).
    """

    def __init__(self, out: Any, *, inputs: Iterable[Any] = ()) -> None:
        self.out = check_out_dir(out, inputs)
        self.stage: Path = self.out
        self.notes: list[str] = []
        self._lock = _Lock(self.out)
        self._opened = False
        self._committed = False

    def open(self) -> OutputFolder:
        """Take the lock, check the folder's contents and create the staging folder."""
        parent = self.out.parent
        if not parent.exists():
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputFolderError(
                    f"Cannot create the folder '{parent}': {exc.strerror}"
                ) from None
        self._lock.acquire()
        try:
            self._check_existing()

            for left in sorted(parent.glob(f"{glob.escape(self.out.name)}.incomplete-*")):
                if left.is_dir() and (left / INCOMPLETE_MARKER).is_file():
                    self.notes.append(
                        f"An interrupted run left '{left}' (marked {INCOMPLETE_MARKER}); "
                        "evigap does not delete it. Delete it when you no longer need it."
                    )

            self.stage = Path(
                tempfile.mkdtemp(prefix=f"{self.out.name}.incomplete-{os.getpid()}-", dir=parent)
            )
            mask = os.umask(0o022)
            os.umask(mask)
            os.chmod(self.stage, 0o777 & ~mask)  # mkdtemp's 0700 is not a results folder's
            (self.stage / INCOMPLETE_MARKER).write_text(
                _marker_text(os.getpid(), f"an unfinished run for '{self.out.name}'"),
                encoding="utf-8",
            )
        except BaseException:
            self._lock.release()
            raise
        self._opened = True
        return self

    def _check_existing(self) -> None:
        owned, foreign, _ = _inventory(self.out)
        if _MANIFEST in foreign:
            raise OutputFolderError(
                f"'{self.out / _MANIFEST}' was not written by evigap on this computer (or was "
                "changed since), so evigap will neither trust nor replace it, and removes "
                "nothing it lists. Remove it yourself or choose another --out folder."
            )
        if len(foreign) > MAX_FOREIGN_FILES:
            raise OutputFolderError(
                f"The output folder '{self.out}' holds {len(foreign)} files evigap did not "
                "write; it is not a results folder. Give a folder of its own."
            )
        self._owned, self._foreign = owned, foreign

    def commit(self) -> None:
        """Swap the complete staging folder in; remove the previous results evigap owned."""
        if not self._opened or self._committed:
            raise OutputFolderError("OutputFolder.commit() needs an open, uncommitted folder.")
        stage, out = self.stage, self.out
        new_files = {p.relative_to(stage).as_posix() for p in stage.rglob("*")}
        new_files.discard(INCOMPLETE_MARKER)
        owned, foreign, _ = _inventory(out)  # again: the folder may have changed meanwhile
        clash = [f for f in foreign if f in new_files]
        if clash:
            raise OutputFolderError(
                f"'{out / clash[0]}' was not written by evigap (or was changed after evigap "
                f"wrote it) and a new result has the same name; evigap will not overwrite it. "
                "Move it away or choose another --out folder."
            )
        carried = self._carry_over(foreign)
        with _Signals():  # SIGINT/SIGTERM wait until the swap is done
            (stage / INCOMPLETE_MARKER).unlink()
            if out.exists():
                if not _exchange(stage, out):
                    aside = stage.with_name(stage.name + "-previous")
                    os.rename(out, aside)
                    os.rename(stage, out)
                    os.rename(aside, stage)
                self._committed = True
                self._remove_previous(stage, owned, carried)
            else:
                os.rename(stage, out)
                self._committed = True
            digest = _sha256(out / _MANIFEST) if (out / _MANIFEST).is_file() else None
            if digest and not record_manifest(digest):
                self.notes.append(
                    f"Could not record the run in '{state_dir()}'; a later run into "
                    f"'{out}' will keep these files instead of replacing them."
                )
        if carried:
            n = len(carried)
            self.notes.append(
                f"Kept {n} file{'s' if n != 1 else ''} in '{out}' that evigap did "
                "not write (or that changed since it did)."
            )

    def _carry_over(self, foreign: list[str]) -> list[str]:
        """Hard-link (symlinks: re-create) the foreign entries of ``out`` into the stage."""
        done: list[str] = []
        for rel in foreign:
            src, dst = self.out / rel.rstrip("/"), self.stage / rel.rstrip("/")
            try:
                if rel.endswith("/"):
                    dst.mkdir(parents=True, exist_ok=True)
                    continue
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_symlink():
                    os.symlink(os.readlink(src), dst)
                else:
                    os.link(src, dst, follow_symlinks=False)
            except OSError as exc:
                raise OutputFolderError(
                    f"'{src}' was not written by evigap and cannot be kept in the new results "
                    f"folder ({exc.strerror}); move it away or choose another --out folder."
                ) from None
            done.append(rel)
        return done

    def _remove_previous(self, old: Path, owned: dict[str, str], carried: list[str]) -> None:
        """Empty the folder that now holds the previous results: owned files (hash checked
        again), second links of carried-over files; anything else stays, with a note."""
        marker = old / INCOMPLETE_MARKER
        try:
            marker.write_text(
                _marker_text(os.getpid(), "previous results being removed"), encoding="utf-8"
            )
        except OSError:
            pass
        for rel, sha in owned.items():
            p = old / rel
            try:
                if p.is_file() and not p.is_symlink() and _sha256(p) == sha:
                    p.unlink()
            except OSError:
                pass
        for rel in carried:
            if rel.endswith("/"):
                continue
            p, kept = old / rel, self.out / rel
            try:
                if os.path.samestat(os.lstat(p), os.lstat(kept)) or (
                    p.is_symlink() and kept.is_symlink() and os.readlink(p) == os.readlink(kept)
                ):
                    p.unlink()
            except OSError:
                pass
        try:
            marker.unlink()
        except OSError:
            pass
        for root, _dirs, _files in sorted(os.walk(old), key=lambda t: -len(t[0])):
            try:
                os.rmdir(root)
            except OSError:
                pass
        if old.exists():
            left = sorted(p.relative_to(old).as_posix() for p in old.rglob("*"))
            self.notes.append(
                f"The previous results were moved to '{old}' and not all removed "
                f"({', '.join(left[:3])}{' ...' if len(left) > 3 else ''} changed or not "
                "evigap's); check and delete that folder yourself."
            )

    def close(self) -> None:
        """Release the lock; without a commit, remove the staging folder (evigap's own)."""
        try:
            if self._opened and not self._committed and self.stage.is_dir():
                shutil.rmtree(self.stage, ignore_errors=True)
        finally:
            self._lock.release()
            self._opened = False

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
