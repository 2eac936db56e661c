"""The one persistent cache: JSON values by content-hash key, in SQLite (WAL mode).

Every cache that must outlive the process (judge responses today; model outputs and
evaluation results as they come) is a :class:`CacheStore`: one table per store file,
rows keyed by ``(namespace, key)`` where ``key`` is :func:`rewardlab.core.content_hash`
of everything the value depends on. Several processes may share a file (SQLite's own
locking, a busy timeout); one connection per store, guarded by a lock, so threads can
share a store. Callers decide what is cacheable; the store keeps what it is given.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from rewardlab.core import content_hash
from rewardlab.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"""

CACHE_DIR_ENV = "REWARDLAB_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$REWARDLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/rewardlab``, else ``~/.cache/rewardlab``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rewardlab"


class CacheStore:
    """A persistent content-hash-keyed cache (see the module docstring).

    >>> import tempfile, pathlib
    >>> store = CacheStore(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite", "demo")
    >>> k = store.key({"model": "m", "messages": []})
    >>> store.get(k) is None
    True
    >>> store.put(k, {"text": "Score: 7"}); store.get(k)
    {'text': 'Score: 7'}
    """

    def __init__(self, path: str | Path, namespace: str) -> None:
        self.path = Path(path).expanduser()
        self.namespace = namespace
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(
                f"cannot open the cache {self.path}: {exc}; pass another cache path or disable the cache"
            ) from None
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: Any) -> str:
        """The content hash of JSON-able ``parts`` (sorted keys): the cache key."""
        return content_hash(*parts)

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM entries WHERE namespace = ? AND key = ?", (self.namespace, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store a JSON-able ``value`` under ``key`` (replacing any previous one)."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO entries (namespace, key, value, created) VALUES (?, ?, ?, ?)",
                (self.namespace, key, text, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM entries WHERE namespace = ?", (self.namespace,)
            ).fetchone()
        return int(row[0])

    def clear(self) -> None:
        """Delete this namespace's entries."""
        with self._lock:
            self._db.execute("DELETE FROM entries WHERE namespace = ?", (self.namespace,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
