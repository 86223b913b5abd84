"""The one cache the lessons share: a result computed once per session, and optionally kept on disk.

A notebook trains a run once and its widgets switch between runs without training again; an
instructor can also point ``cache_dir`` at a folder so a re-run of the notebook reads JSON results
back. The name must identify everything that makes the result (``cache_key`` builds one).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edu_contrast._validation import fail
from edu_contrast._version import __version__

__all__ = ["cached", "cache_key", "cached_names", "clear_cache"]

T = TypeVar("T")
_SESSION: dict[str, object] = {}


def cache_key(fn: Callable, **kwargs) -> str:
    """A name for ``fn(**kwargs)``: the function's name, the arguments and the package version hashed."""
    text = json.dumps({"run": fn.__name__, "version": __version__, **kwargs}, sort_keys=True, default=str)
    return f"{fn.__name__}-{hashlib.sha1(text.encode()).hexdigest()[:16]}"


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        path.unlink()  # a half-written file from an interrupted run: compute it again
        return None


def _write(path: Path, result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


def cached(name: str, compute: Callable[[], T], *, cache_dir: str | os.PathLike | None = None) -> T:
    """``compute()`` the first time ``name`` is asked for, then the same object for the rest of the session.

    With ``cache_dir`` the result (which must then be JSON) is also written to ``cache_dir/name.json``
    and read back in a later session.
    """
    if not isinstance(name, str) or not name:
        fail("name", "cached", "a non-empty string", repr(name), TypeError)
    if not callable(compute):
        fail("compute", "cached", "a function of no arguments", type(compute).__name__, TypeError)
    if name in _SESSION:
        return _SESSION[name]
    path = Path(cache_dir) / f"{name}.json" if cache_dir is not None else None
    result = _read(path) if path is not None and path.is_file() else None
    if result is None:
        result = compute()
        if path is not None:
            _write(path, result)
    _SESSION[name] = result
    return result


def cached_names() -> list[str]:
    """Names of the results kept in this session, in the order they were computed."""
    return list(_SESSION)


def clear_cache() -> None:
    """Forget every result kept in this session (the files in a ``cache_dir`` stay)."""
    _SESSION.clear()
