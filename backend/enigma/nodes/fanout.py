"""Calls side by side inside one step, bounded, and stopped together.

Under real latency a step's wall time is the length of its longest chain of calls, so a step
whose calls do not depend on each other makes them at once. `settle` runs them with at most
`at_once` in flight, and returns each call's result or the `IntegrationError` it raised, so
the caller records what was done and reports what failed. A `Pool` bounds the blocking client
calls of a whole step however its work nests (operations of calls): the services' rate limits
and our I/O threads are shared, so a step never has more than `size` calls on the wire.

Anything else a call raises (`RunStopped` when the run is cancelled, a bug) cancels the calls
still waiting or running and is raised as it is: a stop is not an error to record, and no call
of a stopped run may start after it. A call already on an I/O thread finishes its request (a
cancelled task does not stop a thread), and the run's scope refuses any request after that.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from enigma.context import Context
from enigma.integrations.errors import IntegrationError
from enigma.nodes.common import io

__all__ = ["Pool", "settle", "settle_pair"]

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


async def settle(calls: Iterable[Awaitable[T]], at_once: int) -> list[T | IntegrationError]:
    """Every call's result, or the IntegrationError it raised, in the order given."""
    gate = asyncio.Semaphore(max(1, at_once))

    async def one(call: Awaitable[T]) -> T | IntegrationError:
        try:
            async with gate:
                return await call
        except IntegrationError as exc:
            return exc
        finally:
            if inspect.iscoroutine(call):
                call.close()  # cancelled before it started: not "never awaited"

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def settle_pair(
    first: Awaitable[A], second: Awaitable[B]
) -> tuple[A | IntegrationError, B | IntegrationError]:
    """`settle` for two calls of different types, typed."""
    one, two = await settle([cast(Awaitable[Any], first), cast(Awaitable[Any], second)], 2)
    return cast(A | IntegrationError, one), cast(B | IntegrationError, two)


class Pool:
    """At most `size` of one step's blocking client calls in flight at once."""

    def __init__(self, context: Context, size: int):
        self.context = context
        self._gate = asyncio.Semaphore(max(1, size))

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        """`common.io` once a place in the pool is free."""
        async with self._gate:
            return await io(self.context, fn, *args)
