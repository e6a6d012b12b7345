"""A push's Redis work as one explicit object: two round trips, filled by the layers, sent by app.bot.inbound.

The webhook meets Redis twice per push. Before acting, the first round trip carries what the layers asked to read
(the rate count and the citizen's lock for inbound; the draft, its expiry marker and a pending return visit for the
dialogue); after acting, the last one carries what they asked to write (the draft, the visit's state) with the lock's
release and the reply for WeChat's retries. Layers call `read` and `write` on the push's batch; only inbound calls
`send_first` and `send_last`. Outside a push (tests, the CLI, jobs) there is no batch and the layers go to Redis at
once (see `current`).
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context

_MISSING = object()


class PushBatch:
    """The reads queued for a push's first round trip and the writes queued for its last one."""

    def __init__(self) -> None:
        self._reads: list[tuple[Any, str, tuple, dict]] = []
        self.values: dict[Any, Any] = {}  # name -> what the first round trip read (only once it was sent)
        self.writes: list[tuple[str, tuple, dict]] = []
        self.first_results: list[Any] = []  # every result of the first round trip, the caller's own first

    def read(self, name: Any, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue a read for the first round trip; its value is `value(name)` afterwards."""
        self._reads.append((name, method, args, kwargs))

    def send_first(self, pipe) -> dict[Any, Any]:
        """Run the queued reads on `pipe` (with whatever the caller queued before them); {name: value}."""
        for _name, method, args, kwargs in self._reads:
            getattr(pipe, method)(*args, **kwargs)
        results = self.first_results = pipe.execute()
        mine = results[len(results) - len(self._reads):]
        got = {name: value for (name, *_rest), value in zip(self._reads, mine, strict=True)}
        self._reads = []
        return got

    def keep(self, values: dict[Any, Any]) -> None:
        """Keep read values for the layers (only those no other step can change meanwhile)."""
        self.values.update(values)

    def value(self, name: Any, default: Any = _MISSING) -> Any:
        """A value the first round trip read; `default` (or KeyError) when it was not read."""
        if name in self.values:
            return self.values[name]
        if default is _MISSING:
            raise KeyError(name)
        return default

    def has(self, name: Any) -> bool:
        """Whether the first round trip read `name`."""
        return name in self.values

    def write(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue a write for the last round trip."""
        self.writes.append((method, args, kwargs))

    def fill_last(self, pipe) -> bool:
        """Queue the writes on the last round trip's pipeline (the caller sends it); whether there were any."""
        for method, args, kwargs in self.writes:
            getattr(pipe, method)(*args, **kwargs)
        return bool(self.writes)


def begin() -> PushBatch:
    """A new push's batch (inbound, once per push)."""
    g.bot_batch = PushBatch()
    return g.bot_batch


def end() -> None:
    """Forget the push's batch (writes not sent are dropped: the step failed)."""
    g.pop("bot_batch", None)


def current() -> PushBatch | None:
    """The batch of the push being handled, or None outside the webhook."""
    if has_request_context():
        return g.get("bot_batch")
    return None


def write_now_or_later(redis, *ops: tuple[str, tuple, dict]) -> None:
    """Queue writes on the push's batch, or send them at once (one pipeline) when there is none."""
    batch = current()
    if batch is not None:
        for method, args, kwargs in ops:
            batch.write(method, *args, **kwargs)
        return
    pipe = redis.pipeline()
    for method, args, kwargs in ops:
        getattr(pipe, method)(*args, **kwargs)
    pipe.execute()
