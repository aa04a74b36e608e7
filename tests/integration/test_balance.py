"""Round robin and weights (SPEC.md "balance": weighted, smooth round robin)."""
import collections

import pytest

from helpers import get, make_config


def names(port, n):
    """Backend names answering n requests, each on a fresh client connection."""
    out = []
    for i in range(n):
        r = get(port, "/?i=%d" % i)
        assert r.status == 200, r
        out.append(r.header("X-Backend"))
    return out


@pytest.mark.parametrize("count", [2, 3])
def test_round_robin_cycles_in_config_order(backend, lxlb, count):
    bs = [backend(n) for n in "ABC"[:count]]
    lx = lxlb(make_config({"b": bs}))
    seq = names(lx.port, 4 * count)
    order = [b.name for b in bs]
    # Whatever server comes first, the sequence follows the configured order.
    start = order.index(seq[0])
    expected = [order[(start + i) % count] for i in range(len(seq))]
    assert seq == expected, seq


def test_round_robin_over_one_keepalive_connection(backend, lxlb):
    from helpers import Conn
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [a, b]}))
    with Conn(lx.port) as c:
        seen = []
        for i in range(6):
            c.request("GET", "/")
            seen.append(c.read_response().header("X-Backend"))
    assert collections.Counter(seen) == {"A": 3, "B": 3}, seen


def test_weights_2_to_1(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [(a, {"weight": 2}), (b, {"weight": 1})]}))
    seq = names(lx.port, 30)
    assert collections.Counter(seq) == {"A": 20, "B": 10}, seq
    # Smooth: B is never starved for more than 2 picks in a row.
    assert "AAA" not in "".join(seq), seq


def test_weight_zero_never_picked(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [(a, {"weight": 1}), (b, {"weight": 0})]}))
    assert set(names(lx.port, 6)) == {"A"}
