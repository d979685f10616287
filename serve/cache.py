"""A per-app time-to-live cache for expensive read-only results (statistics over millions of rows).

Results are computed at most once per ``Settings.stats_cache_s`` seconds for the same arguments
(``cachetools.TTLCache``); writes made meanwhile show up when the entry expires. A lock keeps
concurrent requests from computing the same entry twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache
from fastapi import Request

T = TypeVar("T")
_CREATE = threading.Lock()


class ResultCache:
    """``get(key, compute)``: the cached value of ``key``, computed by ``compute()`` when missing or stale."""

    def __init__(self, ttl_s: float, maxsize: int = 4096) -> None:
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value for ``key``; concurrent misses of one key wait for a single computation."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._lock:
                self._cache[key] = value
                self._key_locks.pop(key, None)
            return value

    def clear(self) -> None:
        """Drop every entry (e.g. after a bulk load)."""
        with self._lock:
            self._cache.clear()


def get_result_cache(request: Request) -> ResultCache:
    """The app's result cache, created on first use with the settings' ``stats_cache_s``."""
    state: Any = request.app.state
    with _CREATE:
        if getattr(state, "result_cache", None) is None:
            state.result_cache = ResultCache(ttl_s=state.settings.stats_cache_s)
    return state.result_cache
