"""Calls that go out together: what arrives while one batch is on its way is the next.

A round trip to Redis costs the client far more than the command in it, so many
concurrent callers (32 tasks submitting jobs, say) are served by one command
carrying all their items. No task runs behind it: the first caller sends, and
whoever is still waiting when a batch comes back sends the next one. A lone
caller is not held up; a crowd shares round trips.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Call(Generic[T, R]):
    item: T
    reply: R | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass(eq=False)
class Coalescer(Generic[T, R]):
    """``await coalescer(item)``: ``send`` gets a list of items, returns their replies.

    ``send`` runs shielded from cancellation (its batch holds other callers' items);
    a caller cancelled before its item went out takes the item back. An error of
    ``send`` is raised to every caller of that batch.
    """

    send: Callable[[list[T]], Awaitable[Sequence[R]]]
    limit: int = 256
    _queued: list[_Call[T, R]] = field(default_factory=list)
    _sending: bool = False
    _sent: anyio.Event | None = None

    async def __call__(self, item: T) -> R:
        call: _Call[T, R] = _Call(item)
        self._queued.append(call)
        try:
            while not call.done:
                if self._sending:
                    if self._sent is None:
                        self._sent = anyio.Event()
                    await self._sent.wait()
                else:
                    await self._send_next()
        except anyio.get_cancelled_exc_class():
            if call in self._queued:  # not sent: nothing of it reached the server
                self._queued.remove(call)
            raise
        if call.error is not None:
            raise call.error
        return call.reply  # type: ignore[return-value]

    async def _send_next(self) -> None:
        batch = self._queued[: self.limit]
        del self._queued[: self.limit]
        self._sending = True
        try:
            with anyio.CancelScope(shield=True):
                replies = await self.send([call.item for call in batch])
            for call, reply in zip(batch, replies, strict=True):
                call.reply = reply
        except Exception as exc:
            for call in batch:
                call.error = exc
        except BaseException:  # KeyboardInterrupt and the like: the sender's own to raise
            for call in batch:
                call.error = RuntimeError("the batch this call was in was interrupted")
            raise
        finally:
            for call in batch:
                call.done = True
            self._sending = False
            sent, self._sent = self._sent, None
            if sent is not None:
                sent.set()
