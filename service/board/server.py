"""`python -m board serve`: one uvicorn process (uvloop, httptools), graceful on SIGTERM."""

from __future__ import annotations

import uvicorn
from prometheus_client import disable_created_metrics

from board.app import create_app
from board.config import Settings
from board.gcpause import freeze_startup_heap

# SIGTERM stops accepting, then in-flight requests get this long to finish (Kubernetes allows 30 s).
GRACEFUL_SHUTDOWN_SECONDS = 20
# Past uvicorn's default 2048: the seed's bursts of logins must queue, not be refused by the kernel.
BACKLOG = 4096


def serve(settings: Settings, host: str, port: int) -> None:
    # `_created` series double the scrape and no dashboard reads them.
    disable_created_metrics()
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=BACKLOG,
        lifespan="on",
    )
    freeze_startup_heap()
    uvicorn.Server(config).run()
