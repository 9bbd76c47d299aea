"""201 counting: worker deltas merged on the master add up to what the clients saw."""

from __future__ import annotations

from loadsuite.created import CreatedCounter


def test_deltas_merge_to_totals() -> None:
    w1, w2, master = CreatedCounter(), CreatedCounter(), CreatedCounter()
    for _ in range(3):
        w1.add("POST", "/posts/")
    w2.add("POST", "/comments/")
    master.merge(w1.take_delta())
    master.merge(w2.take_delta())
    w1.add("POST", "/posts/")
    master.merge(w1.take_delta())
    master.merge(w1.take_delta())  # an empty delta changes nothing
    master.merge(None)  # a report from a worker without our hook
    assert master.totals() == {("POST", "/posts/"): 4, ("POST", "/comments/"): 1}
    assert w1.get("POST", "/posts/") == 4


def test_take_delta_is_msgpack_friendly() -> None:
    c = CreatedCounter()
    c.add("POST", "/posts/")
    assert c.take_delta() == [["POST", "/posts/", 1]]
    assert c.take_delta() == []
