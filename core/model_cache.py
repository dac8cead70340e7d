"""A process-wide cache of loaded models bounded by memory rather than by count.

One load per name, also when requests ask for it at once (a lock per name; other names load meanwhile). The least
recently used models leave once the total passes the limit (the newest always stays; sizes are measured again at
each use), but a model that left while
a request still holds it is found again through a weak reference and reused, never loaded a second time.
``load_counts`` is what ``/metrics`` exports."""
from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Model = TypeVar("Model")

_LOADS: Counter[str] = Counter()


def load_counts() -> dict[str, int]:
    """Loads per cache (e.g. ``llm``) since this process started."""
    return dict(_LOADS)


class ModelCache(Generic[Model]):
    """``get(name)`` → the loaded model; ``size_of(model)`` in bytes, ``limit()`` in bytes (read at each insert)."""

    def __init__(self, kind: str, load: Callable[[str], Model], size_of: Callable[[Model], int],
                 limit: Callable[[], int]) -> None:
        self.kind = kind
        self._load = load
        self._size_of = size_of
        self._limit = limit
        self._held: OrderedDict[str, tuple[Model, int]] = OrderedDict()  # least recently used first
        self._left: weakref.WeakValueDictionary[str, Model] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}

    def get(self, name: str) -> Model:
        with self._lock:
            model = self._find(name)
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        if model is not None:
            return model
        with name_lock:
            with self._lock:
                model = self._find(name)
            if model is None:
                model = self._load(name)
                with self._lock:
                    _LOADS[self.kind] += 1
                    self._hold(name, model)
        return model

    def held(self) -> list[str]:
        """The names held now, least recently used first."""
        with self._lock:
            return list(self._held)

    def clear(self) -> None:
        """Forget every model (those still referenced elsewhere stay loaded there)."""
        with self._lock:
            self._held.clear()
            self._left.clear()

    def _find(self, name: str) -> Model | None:
        entry = self._held.pop(name, None)
        if entry is not None:  # measured again: a model may hold more now (a decoder made on first use)
            self._hold(name, entry[0])
            return entry[0]
        model = self._left.get(name)
        if model is not None:  # evicted while still in use: hold that copy again
            self._hold(name, model)
        return model

    def _hold(self, name: str, model: Model) -> None:
        self._left.pop(name, None)
        self._held[name] = (model, self._size_of(model))
        limit = self._limit()
        while len(self._held) > 1 and sum(size for _, size in self._held.values()) > limit:
            evicted, (old, _) = self._held.popitem(last=False)
            self._left[evicted] = old
