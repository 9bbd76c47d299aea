"""Helpers of the board-loadlab load suite.

The modules here, except ``shapes``, never import ``locust``: importing it monkey-patches the
process with gevent, so the pure logic (histograms, thresholds, verdict, knee, health) stays
importable by pytest and by the lab. ``locustfile.py`` next to this package wires them to
Locust's events.
"""
