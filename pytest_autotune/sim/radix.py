"""A radix tree over token sequences: SGLang's prefix cache (``mem_cache/radix_cache.py``).

Token sequences are strings, one character per token (``tokens.py``), so comparing prefixes is
C-speed slicing. Only the bookkeeping is modelled: which token runs are cached, which
are locked by running requests, how many are evictable, and LRU eviction of unlocked leaves.
"""

from __future__ import annotations

import heapq
import itertools

__all__ = ["Node", "RadixCache", "common_prefix_len"]


def common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix of two token sequences (binary search on slices)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class Node:
    __slots__ = ("access", "children", "key", "lock_ref", "parent")

    def __init__(self, key: str, parent: Node | None) -> None:
        self.key = key
        self.parent = parent
        self.children: dict[str, Node] = {}
        self.lock_ref = 0
        self.access = 0.0


class RadixCache:
    """Prefix cache with lock references and LRU eviction (sizes in tokens)."""

    def __init__(self) -> None:
        self.root = Node("", None)
        self.root.lock_ref = 1
        self.total_size = 0
        self.protected_size = 0
        self._tick = itertools.count()

    @property
    def evictable_size(self) -> int:
        return self.total_size - self.protected_size

    def reset(self) -> None:
        self.root = Node("", None)
        self.root.lock_ref = 1
        self.total_size = 0
        self.protected_size = 0

    def match_prefix(self, key: str, now: float = 0.0) -> tuple[int, Node]:
        """Longest cached prefix of ``key``: (length, deepest node); splits a partial match."""
        node = self.root
        matched = 0
        while matched < len(key):
            child = node.children.get(key[matched])
            if child is None:
                break
            n = common_prefix_len(child.key, key[matched:matched + len(child.key)])
            child.access = now
            if n < len(child.key):
                if n > 0:
                    node = self._split(child, n)
                    matched += n
                break
            node = child
            matched += n
        return matched, node

    def _split(self, child: Node, n: int) -> Node:
        """Split ``child`` after ``n`` tokens; returns the new upper node."""
        parent = child.parent
        assert parent is not None
        upper = Node(child.key[:n], parent)
        upper.lock_ref = child.lock_ref
        upper.access = child.access
        parent.children[child.key[0]] = upper
        child.key = child.key[n:]
        child.parent = upper
        upper.children[child.key[0]] = child
        return upper

    def insert(self, key: str, now: float = 0.0) -> tuple[int, Node]:
        """Insert ``key``; returns (tokens that were already cached, last node of ``key``)."""
        node = self.root
        matched = 0
        while matched < len(key):
            child = node.children.get(key[matched])
            if child is None:
                new = Node(key[matched:], node)
                new.access = now
                node.children[key[matched]] = new
                self.total_size += len(new.key)
                return matched, new
            n = common_prefix_len(child.key, key[matched:matched + len(child.key)])
            child.access = now
            if n < len(child.key):
                child = self._split(child, n)
            node = child
            matched += n
        return matched, node

    def inc_lock_ref(self, node: Node) -> None:
        while node is not self.root and node is not None:
            if node.lock_ref == 0:
                self.protected_size += len(node.key)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def dec_lock_ref(self, node: Node) -> None:
        while node is not self.root and node is not None:
            if node.lock_ref == 1:
                self.protected_size -= len(node.key)
            node.lock_ref -= 1
            node = node.parent  # type: ignore[assignment]

    def evict(self, num_tokens: int) -> int:
        """Evict least-recently used unlocked leaves until ``num_tokens`` are freed."""
        if num_tokens <= 0 or self.evictable_size <= 0:
            return 0
        heap: list[tuple[float, int, Node]] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            elif node.lock_ref == 0 and node is not self.root:
                heap.append((node.access, next(self._tick), node))
        heapq.heapify(heap)
        freed = 0
        while heap and freed < num_tokens:
            _, _, node = heapq.heappop(heap)
            parent = node.parent
            assert parent is not None
            del parent.children[node.key[0]]
            freed += len(node.key)
            self.total_size -= len(node.key)
            if parent is not self.root and not parent.children and parent.lock_ref == 0:
                heapq.heappush(heap, (parent.access, next(self._tick), parent))
        return freed

    def dfs_weight_order(self, nodes: list[Node]) -> list[int]:
        """Indices of ``nodes`` in SGLang's dfs-weight order (heaviest subtree first)."""
        at: dict[int, list[int]] = {}
        for i, node in enumerate(nodes):
            at.setdefault(id(node), []).append(i)
        weight: dict[int, int] = {}

        def count(node: Node) -> int:
            w = len(at.get(id(node), ())) + sum(count(c) for c in node.children.values())
            weight[id(node)] = w
            return w

        count(self.root)
        order: list[int] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            order.extend(at.get(id(node), ()))
            kids = [c for c in node.children.values() if weight.get(id(c), 0) > 0]
            kids.sort(key=lambda c: weight[id(c)])  # heaviest popped first
            stack.extend(kids)
        return order
