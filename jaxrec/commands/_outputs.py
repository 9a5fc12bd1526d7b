"""Where a command writes: ``--out`` is checked before any data is loaded or anything compiles.

Every command that writes a results folder resolves ``--out`` here, in two steps:

- :func:`check_out` (validation, writes nothing) refuses an existing file, a location that cannot be
  created or written (no permission, a read-only file system, a file in the way) and a non-empty
  folder that is not a previous run of the same command. A previous run of the same command is
  refused too unless ``--overwrite`` (replace it) or, where the command supports it, ``--resume``
  (continue it) is given. Every refusal says which of these it is and what to do.
- :func:`claim_out` (the start of the work) creates the folder, clears it on ``--overwrite`` and
  writes the run marker :data:`MARKER`; :func:`finish_out` marks the run complete. ``jaxrec report``
  reads the marker to know which command wrote a folder and whether that run finished.

The files themselves are written atomically by :mod:`jaxrec.io`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from jaxrec.errors import ConfigError

MARKER = "jaxrec-run.json"
# Folders written before the marker existed are recognised by a file only that command writes.
_LEGACY_SIGNATURES = {"sweep": "sweep.json"}


def add_out_option(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    default: str | None = None,
    help: str = "output folder",
) -> None:
    """Add ``--out DIR`` and ``--overwrite`` to ``parser``."""
    parser.add_argument("--out", required=required, default=default, help=help)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a previous run of this command in --out (its files are deleted first)",
    )


def previous_command(path: Path) -> str | None:
    """The command whose run folder ``path`` is (from :data:`MARKER`), or None."""
    marker = path / MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text())["command"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    for command, signature in _LEGACY_SIGNATURES.items():
        if (path / signature).is_file():
            return command
    return None


def read_marker(path: str | os.PathLike) -> dict[str, Any] | None:
    """The run marker of folder ``path`` as a dict, or None when absent or unreadable."""
    try:
        return json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _unwritable_reason(path: Path) -> str | None:
    """Why ``path`` (a folder, existing or not) cannot be created or written to; None if it can."""
    ancestor = path
    while not ancestor.exists():
        if ancestor.is_symlink():  # a dangling link
            return f"{ancestor} is a broken symbolic link"
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, so no folder can be made inside it"
    if os.statvfs(ancestor).f_flag & os.ST_RDONLY:
        return f"{ancestor} is on a read-only file system"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable by this user"
    return None


def check_out(
    out: str | os.PathLike | None,
    command: str,
    *,
    overwrite: bool = False,
    resume: bool | None = None,
) -> Path:
    """Check that ``command`` may write its results to folder ``out``; write nothing.

    Args:
      out: the ``--out`` value.
      command: the command as the user types it after ``jaxrec`` (``"simulate"``, ``"train cpo"``).
      overwrite: ``--overwrite`` was given: a previous run of ``command`` may be replaced.
      resume: ``--resume`` was given (True/False) for commands that can resume; None for the others.
    Raises:
      ConfigError: naming ``--out``, with the reason and what to do.
    """
    if out is None or str(out).strip() == "":
        raise ConfigError("--out", "give an output folder with --out DIR")
    path = Path(out).expanduser()
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise ConfigError("--out", f"{path} is an existing file; give a folder (new or empty)")
    reason = _unwritable_reason(path)
    if reason:
        raise ConfigError("--out", f"cannot write to {path}: {reason}")
    if not path.is_dir() or not any(path.iterdir()):
        return path  # a new or empty folder (--resume there starts from the beginning)
    previous = previous_command(path)
    if previous is None:
        shown = ", ".join(sorted(p.name for p in path.iterdir())[:3])
        raise ConfigError(
            "--out",
            f"{path} is not empty ({shown}, ...) and is not a previous `jaxrec {command}` run; "
            "choose a new or empty folder",
        )
    if previous != command:
        raise ConfigError(
            "--out",
            f"{path} holds a `jaxrec {previous}` run, not `jaxrec {command}`; choose another folder",
        )
    if resume or overwrite:
        if resume and overwrite:
            raise ConfigError("--overwrite", "give --resume or --overwrite, not both")
        return path
    hint = "pass --resume to continue it or --overwrite to replace it"
    if resume is None:
        hint = "pass --overwrite to replace it or choose another folder"
    raise ConfigError("--out", f"{path} holds a previous `jaxrec {command}` run; {hint}")


def claim_out(
    out: str | os.PathLike,
    command: str,
    *,
    overwrite: bool = False,
    resume: bool | None = None,
    **info: Any,
) -> Path:
    """:func:`check_out`, then create the folder, empty it on ``overwrite`` and write the marker.

    ``info`` (JSON-ready) is stored in the marker with ``command`` and ``complete: false``.
    """
    from jaxrec.io import write_json

    path = check_out(out, command, overwrite=overwrite, resume=resume)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            for entry in path.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        marker = read_marker(path) if resume else None
        write_json(path / MARKER, {**(marker or {}), "command": command, "complete": False, **info})
    except OSError as err:
        raise ConfigError("--out", f"cannot write to {path}: {err.strerror}") from None
    return path


def finish_out(out: str | os.PathLike, **info: Any) -> None:
    """Mark the run in ``out`` complete (and store ``info`` in its marker)."""
    from jaxrec.io import write_json

    marker = read_marker(out) or {}
    write_json(Path(out) / MARKER, {**marker, **info, "complete": True})


def check_file_out(path: str | os.PathLike, option: str) -> Path:
    """Check that the single file ``path`` (e.g. ``--json``) can be written; write nothing."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(option, f"{path} is a folder; give a file name")
    reason = _unwritable_reason(path.parent)
    if reason:
        raise ConfigError(option, f"cannot write {path}: {reason}")
    return path


def part_writer(folder: Path, drop: tuple[str, ...] = ()) -> Any:
    """A callable writing each chunk's rows to ``folder/part-<policy #>-<last step>.parquet``.

    Parts are written atomically, so an interrupted run leaves only whole parts;
    ``pandas.read_parquet(folder)`` reads them back as one table (hidden temporaries are skipped).
    """
    from jaxrec.io import write_parquet

    policies: dict[str, int] = {}

    def write(frame: Any) -> None:
        index = policies.setdefault(str(frame["policy"].iloc[0]), len(policies))
        last = int(frame["step"].max())
        write_parquet(
            folder / f"part-{index:02d}-{last:09d}.parquet", frame.drop(columns=list(drop))
        )

    return write
