"""Status counting: worker deltas merged on the master add up to what the clients saw, per endpoint and status."""

from __future__ import annotations

from types import SimpleNamespace

from loadsuite.statuses import NO_RESPONSE, StatusCounter, status_of


def test_deltas_merge_to_totals_per_endpoint_and_status() -> None:
    w1, w2, master = StatusCounter(), StatusCounter(), StatusCounter()
    for _ in range(3):
        w1.add("POST", "/posts/", 201)
    w1.add("POST", "/posts/", 503)
    w2.add("POST", "/comments/", 201)
    w2.add("GET", "/posts/", NO_RESPONSE)
    master.merge(w1.take_delta())
    master.merge(w2.take_delta())
    w1.add("POST", "/posts/", 201)
    master.merge(w1.take_delta())
    master.merge(w1.take_delta())  # an empty delta changes nothing
    master.merge(None)  # a report from a worker without our hook
    assert master.for_endpoint("POST", "/posts/") == {201: 4, 503: 1}
    assert master.for_endpoint("POST", "/comments/") == {201: 1}
    assert master.for_endpoint("GET", "/posts/") == {0: 1}
    assert master.for_endpoint("GET", "/nothing") == {}
    assert master.overall() == {201: 5, 503: 1, 0: 1}


def test_take_delta_is_msgpack_friendly() -> None:
    c = StatusCounter()
    c.add("POST", "/posts/", 201)
    assert c.take_delta() == [["POST", "/posts/", 201, 1]]
    assert c.take_delta() == []


def test_a_request_without_a_response_is_status_zero() -> None:
    assert status_of(None) == NO_RESPONSE
    assert status_of(SimpleNamespace(status_code=0)) == NO_RESPONSE  # FastResponse after a connection error
    assert status_of(SimpleNamespace()) == NO_RESPONSE
    assert status_of(SimpleNamespace(status_code=422)) == 422
