"""Planted: a starved load generator. Each simulated user does heavy client-side work after every request (a
stand-in for parsing, signing or generating payloads in Python), with no wait, on ONE Locust worker: the worker's
CPU is the limit long before the API's (a GET /healthz costs the API a fraction of a millisecond).
Run by `loadlab diagnose-matrix generator` (lab/loadlab/planted.py); expected first: "load generator CPU".
"""

from locust import HttpUser, constant, task

#: Iterations of client-side work per request: some 10-30 ms of one CPU in CPython.
WORK = 200_000


class HeavyClient(HttpUser):
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz")
        total = 0
        for i in range(WORK):
            total += i * i
