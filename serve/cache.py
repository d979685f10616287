"""Caches for expensive read-only results (statistics over millions of rows).

Two levels: an in-process time-to-live cache (``cachetools.TTLCache``) and, for serialised replies
(``persist=True``), the ``stats_cache`` table, which every worker process of the service shares, so a
statistic is computed once per ``Settings.stats_cache_s`` seconds for the whole service rather than once
per worker. Writes made meanwhile show up when the entry expires. A per-key lock keeps concurrent
requests of one process from computing the same entry twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cachetools import TTLCache
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from models.store.db import StatsCache

log = logging.getLogger(__name__)
T = TypeVar("T")
_CREATE = threading.Lock()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ResultCache:
    """``get(key, compute)``: the cached value of ``key``, computed by ``compute()`` when missing or stale.

    Args:
        ttl_s: lifetime of an entry, s (0 disables caching).
        sessions: a session factory for the shared ``stats_cache`` table (None: in-process only).
    """

    def __init__(self, ttl_s: float, sessions: Callable | None = None, maxsize: int = 4096) -> None:
        self.ttl_s = ttl_s
        self._sessions = sessions
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T], persist: bool = False) -> T:
        """The value for ``key``; concurrent misses of one key wait for a single computation. With
        ``persist`` (``bytes`` values only) the shared table is read before computing and written after."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = self._load(key) if persist else None
            if value is None:
                value = compute()
                if persist:
                    self._store(key, value)
            with self._lock:
                self._cache[key] = value
                self._key_locks.pop(key, None)
            return value

    @staticmethod
    def _digest(key: Hashable) -> str:
        return hashlib.sha256(repr(key).encode()).hexdigest()

    def _load(self, key: Hashable) -> Any:
        if self._sessions is None or self.ttl_s <= 0:
            return None
        try:
            with self._sessions() as session:
                row = session.get(StatsCache, self._digest(key))
                if row is not None and row.computedUTC >= _now() - timedelta(seconds=self.ttl_s):
                    return row.value
        except SQLAlchemyError as exc:  # the cache is an optimisation: never fail a read because of it
            log.warning("stats cache read failed: %s", exc)
        return None

    def _store(self, key: Hashable, value: Any) -> None:
        if self._sessions is None or self.ttl_s <= 0:
            return
        try:
            with self._sessions() as session:
                session.merge(StatsCache(cacheKey=self._digest(key), value=value, computedUTC=_now()))
                session.commit()
        except SQLAlchemyError as exc:  # e.g. two workers inserting the same key at once
            log.info("stats cache write skipped: %s", exc)

    def clear(self) -> None:
        """Drop every in-process entry (the shared table expires by age)."""
        with self._lock:
            self._cache.clear()


def get_result_cache(request: Request) -> ResultCache:
    """The app's result cache, created on first use with the settings' ``stats_cache_s``."""
    state: Any = request.app.state
    with _CREATE:
        if getattr(state, "result_cache", None) is None:
            state.result_cache = ResultCache(ttl_s=state.settings.stats_cache_s,
                                             sessions=getattr(state, "sessions", None))
    return state.result_cache
