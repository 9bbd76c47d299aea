"""Helpers of the board-loadlab load suite, and its Locust plugin.

The modules here, except ``shapes`` and ``plugin``, never import ``locust``: importing it monkey-patches
the process with gevent, so the pure logic (histograms, thresholds, verdict, knee, health) stays
importable by pytest and by the lab. ``plugin`` wires what any locustfile gets to Locust's events;
``locustfile.py`` next to this package adds the board's users, scenarios and shapes.
"""
