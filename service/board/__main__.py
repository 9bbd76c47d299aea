"""The board CLI: `migrate`, `seed-users`, `serve` (configuration from BOARD_* variables)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from board.config import DEV_MODE_WARNING, Settings, describe_errors

DEFAULT_SEED_USERS = 3  # the seed's user1..user3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m board", description="The board API (settings: BOARD_* env).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    seed = commands.add_parser("seed-users", help="create user1..userN with passwords pass1..passN (idempotent)")
    seed.add_argument(
        "--count", type=int, default=DEFAULT_SEED_USERS, metavar="N", help="accounts (default: %(default)s)"
    )
    serve = commands.add_parser("serve", help="run the API: a supervisor and BOARD_WORKERS uvicorn processes")
    serve.add_argument("--host", default="127.0.0.1", metavar="HOST", help="bind address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, metavar="PORT", help="bind port (default: %(default)s)")
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="port of /metrics, on the same address (default: BOARD_METRICS_PORT, else 9000)",
    )
    args = parser.parse_args(argv)
    if args.command == "seed-users" and args.count < 1:
        parser.error(f"--count must be >= 1, got {args.count}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings()  # read from BOARD_* variables
    except ValidationError as e:
        print(f"board: invalid configuration:\n{describe_errors(e)}", file=sys.stderr)
        return 2
    if settings.dev_mode:
        print(f"{'!' * 100}\n{DEV_MODE_WARNING}\n{'!' * 100}", file=sys.stderr)
    if args.command == "migrate":
        from board.migrate import upgrade

        upgrade(settings.database_url)
        print("board: schema at head")
    elif args.command == "seed-users":
        from board.seed import seed_users

        created, existing = asyncio.run(seed_users(settings, args.count))
        print(f"board: seed-users: {created} created, {existing} already present")
    else:
        from board.supervisor import serve

        return serve(settings, args.host, args.port, args.metrics_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
