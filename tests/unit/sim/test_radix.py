from __future__ import annotations

from pytest_autotune.sim.radix import RadixCache, common_prefix_len


def test_common_prefix_len() -> None:
    assert common_prefix_len("abcdef", "abcxyz") == 3
    assert common_prefix_len("abc", "abc") == 3
    assert common_prefix_len("", "abc") == 0
    a = "".join(map(chr, range(256))) * 40
    assert common_prefix_len(a, a[:5000] + "!") == 5000


def test_insert_match_split_and_sizes() -> None:
    t = RadixCache()
    assert t.insert("hello world")[0] == 0
    assert t.total_size == 11
    n, node = t.match_prefix("hello there")
    assert n == 6 and node.key == "hello "  # split at the divergence
    dup, _ = t.insert("hello there")
    assert dup == 6 and t.total_size == 16
    assert t.match_prefix("xyz")[0] == 0


def test_locks_protect_from_eviction_and_lru_order() -> None:
    t = RadixCache()
    _, a = t.insert("aaaa", now=1.0)
    _, b = t.insert("bbbb", now=2.0)
    t.insert("cccc", now=3.0)
    t.inc_lock_ref(b)
    assert t.protected_size == 4 and t.evictable_size == 8
    assert t.evict(3) == 4  # the least recently used unlocked leaf: "aaaa"
    assert t.match_prefix("aaaa")[0] == 0 and t.match_prefix("bbbb")[0] == 4
    assert t.evict(100) == 4  # only "cccc" is left unlocked
    assert t.total_size == 4
    t.dec_lock_ref(b)
    assert t.evictable_size == 4 and t.evict(100) == 4 and t.total_size == 0
    del a


def test_evicting_a_leaf_exposes_its_parent() -> None:
    t = RadixCache()
    t.insert("prefix-one", now=1.0)
    t.insert("prefix-two", now=1.0)
    assert t.total_size == 13 and t.evict(100) == 13 and t.total_size == 0


def test_dfs_weight_order_groups_shared_prefixes() -> None:
    t = RadixCache()
    keys = ["xx-1", "yy-1", "xx-2", "xx-3", "yy-2"]
    for k in keys:
        t.insert(k)
    nodes = [t.match_prefix(k)[1] for k in keys]
    order = t.dfs_weight_order(nodes)
    groups = [keys[i][:2] for i in order]
    assert groups == ["xx", "xx", "xx", "yy", "yy"]
