"""Draw one of many items by weight, where items are added and weights change as the
simulation runs: a Fenwick tree of the weights, so a draw and a change each cost O(log n).

`random.choices(items, weights)` builds the running sums of every weight on each call: with a
mid-size CRM's 20,000 contacts that was the simulator's whole cost (a 30-day history took over
half an hour to make). A draw here takes one `rng.random()`, as `choices` does, and picks the
item `choices` would pick from the same weights (the first whose running sum exceeds the draw
times the total), up to the rounding of the sums.
"""

from __future__ import annotations

import random
from typing import Generic, TypeVar

from workers.simulate.errors import SimulationError

T = TypeVar("T")


class WeightedPicker(Generic[T]):
    def __init__(self) -> None:
        self.items: list[T] = []
        self._weights: list[float] = []
        self._tree: list[float] = [0.0]  # 1-based: _tree[i] sums the weights of (i - lowbit i, i]
        self._top = 1  # the highest power of two <= len(items), for the descent

    def add(self, item: T, weight: float) -> None:
        if not weight >= 0.0:
            raise SimulationError(f"a weight must be zero or more, not {weight}")
        self.items.append(item)
        self._weights.append(0.0)
        i = len(self.items)
        # a new last node sums the nodes below it, as a tree built from the start would
        lowbit = i & -i
        total, j = 0.0, i - 1
        while j > i - lowbit:
            total += self._tree[j]
            j -= j & -j
        self._tree.append(total)
        while self._top * 2 <= i:
            self._top *= 2
        self.set(i - 1, weight)

    def set(self, index: int, weight: float) -> None:
        """Give the item at `index` (in order of `add`) the weight `weight`."""
        if not weight >= 0.0:
            raise SimulationError(f"a weight must be zero or more, not {weight}")
        delta = weight - self._weights[index]
        self._weights[index] = weight
        i, tree, n = index + 1, self._tree, len(self.items)
        while i <= n:
            tree[i] += delta
            i += i & -i

    def total(self) -> float:
        total, i = 0.0, len(self.items)
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total

    def pick(self, rng: random.Random) -> T:
        """One item, each with the chance of its weight in the total."""
        if not self.items:
            raise SimulationError("nothing to pick from")
        return self.items[self.find(rng.random() * self.total())]

    def find(self, target: float) -> int:
        """The index of the first item whose running sum of weights exceeds `target` (the
        last item when none does, as `random.choices` takes it)."""
        tree, n = self._tree, len(self.items)
        pos, step = 0, self._top
        while step:
            nxt = pos + step
            if nxt <= n and tree[nxt] <= target:
                pos = nxt
                target -= tree[nxt]
            step //= 2
        return min(pos, n - 1)
