"""Concurrent: fan out one sub-task per repo, at most `limit` at a time, and fan the results in.

The durable parts (starting a child workflow, waiting for the first to finish) are handed in, so
this module only decides what runs when.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Handle(Protocol[R]):  # type: ignore[misc]
    def get_result(self) -> R: ...


def fan_out(
    items: list[T],
    start: Callable[[T], Handle[R]],
    wait_first: Callable[[list[Handle[R]]], Handle[R]],
    limit: int,
) -> list[R]:
    """Run `items` with a sliding window of `limit`; results come back in the items' order."""
    results: dict[int, R] = {}
    pending: list[tuple[int, Handle[R]]] = []
    for index, item in enumerate(items):
        if len(pending) >= limit:
            _collect_first(pending, wait_first, results)
        pending.append((index, start(item)))
    while pending:
        _collect_first(pending, wait_first, results)
    return [results[i] for i in range(len(items))]


def _collect_first(
    pending: list[tuple[int, Handle[R]]],
    wait_first: Callable[[list[Handle[R]]], Handle[R]],
    results: dict[int, R],
) -> None:
    done = wait_first([h for _, h in pending])
    for position, (index, handle) in enumerate(pending):
        if handle is done:
            results[index] = handle.get_result()
            del pending[position]
            return
    raise RuntimeError("wait_first returned a handle that was not pending")
