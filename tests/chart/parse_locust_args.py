"""Parse a Locust command line the way `locust` does, with the load suite's own options registered.

Run in a subprocess (importing locust monkey-patches the process with gevent):
    python tests/chart/parse_locust_args.py <locustfile>[,<locustfile>...] -- <args...>
Prints the parsed options as JSON; exits 2 (argparse's code) on an unknown flag or a bad value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    locustfiles, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: parse_locust_args.py <locustfile>[,<locustfile>...] -- <args...>"
    from locust.util.load_locustfile import load_locustfile

    from locust import argument_parser

    for locustfile in locustfiles.split(","):  # as Locust loads -f a.py,b.py: each registers its own options
        sys.path.insert(0, str(Path(locustfile).parent))
        load_locustfile(locustfile)
    options = argument_parser.parse_options(args=args)
    print(json.dumps({k: v for k, v in vars(options).items() if isinstance(v, str | int | float | bool | None)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
