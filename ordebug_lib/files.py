"""Small file and process helpers that several layers share (the runner, the benchmark builder, jobs)."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file in ``path``'s directory, fsync it, then ``os.replace`` it onto
    ``path``: a reader (or a rerun after a kill) sees the old file or the whole new one, never a part.

    >>> import tempfile
    >>> p = write_atomic(Path(tempfile.mkdtemp()) / "a.json", "{}")
    >>> p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('{}', ['a.json'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """Is a process with this pid alive on this host (one owned by another user counts)?

    >>> pid_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


__all__ = ["pid_alive", "write_atomic"]
