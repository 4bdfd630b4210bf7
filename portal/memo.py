"""Small least-recently-used memos kept per database engine, in this process, shared by threads.

What a memo keeps must stay right for the engine's database as long as it is kept: each
user says why its entries stay right (moderation.queue.TerminalCounts and OpenCounts,
portal.stats.Scoreboards, portal.scoreboard.views.RenderedTables).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Self

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


class EngineMemo:
    SIZE = 64
    _lock = threading.Lock()
    _by_engine: weakref.WeakKeyDictionary[Engine, EngineMemo]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._by_engine = weakref.WeakKeyDictionary()  # each kind of memo its own

    def __init__(self) -> None:
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()

    @classmethod
    def of(cls, session: Session) -> Self:
        """The memo of the database `session` is bound to."""
        engine = session.get_bind()
        engine = getattr(engine, "engine", engine)
        with cls._lock:
            memo = cls._by_engine.get(engine)
            if memo is None:
                memo = cls._by_engine[engine] = cls()
            return memo

    def recall(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def keep(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self.entries[key] = value
            while len(self.entries) > self.SIZE:
                self.entries.popitem(last=False)

    def kept(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value kept for `key`; computed and kept first when there is none."""
        found = self.recall(key)
        if found is None:
            found = compute()
            self.keep(key, found)
        return found
