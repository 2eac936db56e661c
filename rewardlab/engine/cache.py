"""A bounded, thread-safe LRU cache of scores by content key."""

from __future__ import annotations

import threading
from collections import OrderedDict

from rewardlab.core import Score, Status

# Only outcomes that are a pure function of the input are cached; a timeout or an
# error may be the machine's fault and is retried on the next call.
CACHEABLE = frozenset({Status.OK, Status.NO_ANSWER, Status.INVALID_REFERENCE})


class ScoreCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[str, Score] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Score | None:
        if self.capacity <= 0:
            return None
        with self._lock:
            score = self._data.get(key)
            if score is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return score

    def put(self, key: str, score: Score) -> None:
        if self.capacity <= 0 or score.status not in CACHEABLE:
            return
        with self._lock:
            self._data[key] = score
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
