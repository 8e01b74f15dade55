"""Writing files so that a reader never sees a half-written one, and telling before a long job whether a path can be
written at all."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON, atomically."""
    write_atomic(Path(path), json.dumps(data, indent=2) + "\n")


def unwritable(path: str | Path, kind: str = "file") -> str | None:
    """Why ``path`` cannot be written as a new or replaced ``kind`` (``file`` or ``folder``), checked without writing
    anything; None when nothing stands in the way. A file may exist (it is replaced) when it is a regular file; a
    missing folder is created with its missing parents."""
    path = Path(path)
    if "\0" in str(path):
        return "it contains a NUL character"
    try:
        name_max = os.pathconf(".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    long = next((part for part in path.parts if len(os.fsencode(part)) > name_max), None)
    if long is not None:
        return f"the name {long[:40]}... is longer than {name_max} bytes"
    existing = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    if existing == path:
        if kind == "file" and path.is_dir():
            return "it is a folder; give a file name"
        if kind == "file" and not path.is_file():
            return "it exists and is not a regular file"
        if kind == "folder" and not path.is_dir():
            return f"{path} is not a writable folder"
        folder = path if kind == "folder" else path.parent
    else:
        folder = existing
        if not folder.is_dir():
            return f"{folder} is not a writable folder"
        if kind == "file" and folder != path.parent:
            return f"the folder {path.parent} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None
