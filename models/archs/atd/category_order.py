"""The order ATD's category attention sorts its tokens in: by category (the dictionary token each one is most
like), ties kept in one of two orders.

* ``stable_order``: ties in token order (a stable sort). Written as an argsort of ``category * n + position``, keys
  without ties, so that any sort gives it: the static export (``argsort``) and ONNX agree with the dynamic graph.
* ``torch_cpu_order``: ties as PyTorch's CPU ``torch.sort(..., stable=False)`` leaves them, the order spandrel's
  ATD gets on a CPU. That sort is libstdc++'s ``std::sort`` (introsort: median-of-three quicksort down to runs of
  16, a heapsort past 2 log2(n) levels, then one insertion sort) on (key, index) pairs compared by key; it is
  replayed here step for step on the host, in the dynamic graph only.

The two differ wherever a category straddles a group boundary, and the groups' attention differs with them
(tests/models/test_arch_atd.py measures both against spandrel).
"""
import numpy as np
import paddle

THRESHOLD = 16  # libstdc++'s _S_threshold


def stable_order(category):
    """(B, n) int64 categories -> (B, n) positions sorted by category, ties in token order."""
    n = paddle.shape(category)[1].astype('int64')
    return paddle.argsort(category * n + paddle.arange(n, dtype='int64'), axis=-1)


def torch_cpu_order(category):
    """(B, n) int64 categories -> (B, n) positions in the order PyTorch's CPU unstable sort gives (dynamic graph)."""
    if not paddle.in_dynamic_mode():
        raise ValueError("ATD category_order 'torch_cpu' replays PyTorch's CPU sort on the host and cannot be "
                         "exported: export with category_order 'stable'")
    rows = [introsort_order(row) for row in np.asarray(category.numpy(), np.int64)]
    return paddle.to_tensor(np.stack(rows).astype('int64'))


def introsort_order(keys):
    """The permutation libstdc++'s ``std::sort`` leaves (key, index) pairs in, compared by key."""
    keys, idx = [int(k) for k in keys], list(range(len(keys)))
    n = len(keys)
    if n > 1:
        _introsort_loop(keys, idx, 0, n, 2 * (n.bit_length() - 1))
        _final_insertion_sort(keys, idx, 0, n)
    return np.asarray(idx, np.int64)


def _swap(keys, idx, a, b):
    keys[a], keys[b] = keys[b], keys[a]
    idx[a], idx[b] = idx[b], idx[a]


def _median_to_first(keys, idx, result, a, b, c):
    ka, kb, kc = keys[a], keys[b], keys[c]
    if ka < kb:
        pick = b if kb < kc else (c if ka < kc else a)
    else:
        pick = a if ka < kc else (c if kb < kc else b)
    _swap(keys, idx, result, pick)


def _partition(keys, idx, first, last, pivot):
    while True:
        while keys[first] < keys[pivot]:
            first += 1
        last -= 1
        while keys[pivot] < keys[last]:
            last -= 1
        if first >= last:
            return first
        _swap(keys, idx, first, last)
        first += 1


def _introsort_loop(keys, idx, first, last, depth):
    while last - first > THRESHOLD:
        if depth == 0:
            _heapsort(keys, idx, first, last)
            return
        depth -= 1
        _median_to_first(keys, idx, first, first + 1, first + (last - first) // 2, last - 1)
        cut = _partition(keys, idx, first + 1, last, first)
        _introsort_loop(keys, idx, cut, last, depth)
        last = cut


def _linear_insert(keys, idx, last):
    """Unguarded: some element before ``last`` is no greater than it."""
    key, i = keys[last], idx[last]
    nxt = last - 1
    while key < keys[nxt]:
        keys[last], idx[last] = keys[nxt], idx[nxt]
        last, nxt = nxt, nxt - 1
    keys[last], idx[last] = key, i


def _insertion_sort(keys, idx, first, last):
    for i in range(first + 1, last):
        if keys[i] < keys[first]:
            key, j = keys[i], idx[i]
            keys[first + 1:i + 1], idx[first + 1:i + 1] = keys[first:i], idx[first:i]
            keys[first], idx[first] = key, j
        else:
            _linear_insert(keys, idx, i)


def _final_insertion_sort(keys, idx, first, last):
    if last - first > THRESHOLD:
        _insertion_sort(keys, idx, first, first + THRESHOLD)
        for i in range(first + THRESHOLD, last):
            _linear_insert(keys, idx, i)
    else:
        _insertion_sort(keys, idx, first, last)


def _adjust_heap(keys, idx, first, hole, length, value):
    """libstdc++'s __adjust_heap (then __push_heap) on the heap at ``first``: ``value`` (key, index) sifted."""
    top, child = hole, hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if keys[first + child] < keys[first + child - 1]:
            child -= 1
        keys[first + hole], idx[first + hole] = keys[first + child], idx[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        keys[first + hole], idx[first + hole] = keys[first + child - 1], idx[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and keys[first + parent] < value[0]:
        keys[first + hole], idx[first + hole] = keys[first + parent], idx[first + parent]
        hole, parent = parent, (parent - 1) // 2
    keys[first + hole], idx[first + hole] = value


def _heapsort(keys, idx, first, last):
    """libstdc++'s __partial_sort(first, last, last): make the heap, then pop it."""
    length = last - first
    for parent in range((length - 2) // 2, -1, -1):
        _adjust_heap(keys, idx, first, parent, length, (keys[first + parent], idx[first + parent]))
    while last - first > 1:
        last -= 1
        value = (keys[last], idx[last])
        keys[last], idx[last] = keys[first], idx[first]
        _adjust_heap(keys, idx, first, 0, last - first, value)
