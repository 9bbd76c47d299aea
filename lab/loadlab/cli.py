"""`loadlab`: the local lab's command line (run, down, compare)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loadlab import presets
from loadlab.cpulimit import CpuLimitError
from loadlab.loadtest import LoadOptions
from loadlab.process import ServiceError
from loadsuite.options import add_lab_arguments

#: What `loadlab bench` compares: the seed's starting point, the design before issue H, and the best so far.
BENCH_PRESETS = ("seed-baseline", "single-process", "tuned")
#: The lab's own settings from the environment (the load suite's LOADLAB_* variables are Locust's alone to read:
#: the lab passes on a suite option only when it is given one, see loadsuite.options.add_lab_arguments).
DEFAULT_ROOT = Path(os.environ.get("LOADLAB_ROOT", Path.cwd() / ".lab"))
#: The suite's options the lab's `run`, `compare` and `drill` take as they are (same flag, type, help).
SUITE_FLAGS = ("--scenario", "--shape", "--step-users", "--step-interval", "--thresholds")


def default_workers() -> int:
    """Locust worker processes (LOADLAB_WORKERS, else 2): `run`, `compare`, `drill` and `soak` alike."""
    return int(os.environ.get("LOADLAB_WORKERS", 2))


def default_knee() -> int | None:
    """The preset's capacity knee in users from LOADLAB_KNEE (None: the command's own default)."""
    return int(os.environ.get("LOADLAB_KNEE", 0)) or None


def add_load_options(parser: argparse.ArgumentParser, *, users: int = 200, duration: int = 60) -> None:
    group = parser.add_argument_group("load", "what the Locust master and workers do")
    group.add_argument(
        "-u",
        "--users",
        type=int,
        default=int(os.environ.get("LOADLAB_USERS", users)),
        metavar="N",
        help=f"peak simulated users (default {users}; env LOADLAB_USERS)",
    )
    group.add_argument(
        "-r",
        "--spawn-rate",
        type=float,
        default=float(os.environ.get("LOADLAB_SPAWN_RATE", 50)),
        metavar="N",
        help="users started per second (default 50; env LOADLAB_SPAWN_RATE)",
    )
    group.add_argument(
        "-t",
        "--duration",
        type=int,
        default=int(os.environ.get("LOADLAB_DURATION", duration)),
        metavar="SECONDS",
        help=f"test length (default {duration}; env LOADLAB_DURATION)",
    )
    group.add_argument(
        "-w",
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="Locust worker processes (default 2; env LOADLAB_WORKERS)",
    )
    add_lab_arguments(group, SUITE_FLAGS)
    group.add_argument(
        "--accounts",
        type=int,
        default=None,
        metavar="N",
        help="accounts user1..userN to create and log in with (default min(users, 100))",
    )


def add_preset_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--preset",
        default=os.environ.get("LOADLAB_PRESET", "tuned"),
        metavar="NAME|FILE",
        help=f"values file of the chart: one of {', '.join(presets.available())} or a path "
        "(default tuned; env LOADLAB_PRESET)",
    )


def add_cpus_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--cpus",
        default=os.environ.get("LOADLAB_CPUS") or None,
        metavar="N|chart",
        help="run the stack (not Locust) under a CPU quota, as on a smaller machine: N CPUs for all of "
        "it (e.g. 1.4), or `chart`: each component its chart limit (resources.limits.cpu); needs "
        "root for the cgroup (env LOADLAB_CPUS)",
    )


def add_root_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        metavar="DIR",
        help="where run folders go (default ./.lab; env LOADLAB_ROOT)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadlab", description="The board-loadlab local lab.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start the stack, run a distributed test, write the report, stop everything")
    stack = run.add_argument_group("stack")
    add_preset_option(stack)
    add_root_option(stack)
    add_cpus_option(stack)
    stack.add_argument("--run-id", default=None, metavar="ID", help="name of the run folder (default: time + preset)")
    stack.add_argument(
        "--keep", action="store_true", help="leave the stack running afterwards (stop it with `loadlab down RUN_DIR`)"
    )
    add_load_options(run)
    own = run.add_argument_group("your own test", "any locustfile, with the plugin's exporter, verdict and results")
    own.add_argument(
        "--locustfile",
        type=Path,
        default=None,
        metavar="FILE",
        help="run this locustfile (distributed, beside the plugin) instead of the load suite",
    )
    own.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help="send the load to this URL; the board stack is not started (Prometheus is)",
    )

    down = sub.add_parser("down", help="stop what a `run --keep` left running")
    down.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder (.lab/<run-id>)")

    compare = sub.add_parser("compare", help="run several presets under the same load, one table and chart")
    compare.add_argument("presets", nargs="+", metavar="PRESET")
    add_root_option(compare)
    add_cpus_option(compare)
    add_load_options(compare)

    bench = sub.add_parser("bench", help="ceilings and presets side by side: figures and ratios (~15 min)")
    add_root_option(bench)
    add_cpus_option(bench)
    bench.add_argument("--smoke", action="store_true", help="every part in seconds: proves each figure appears")
    bench.add_argument(
        "--presets",
        nargs="+",
        default=list(BENCH_PRESETS),
        metavar="PRESET",
        help="the presets compared, the last one against each other (default: " + " ".join(BENCH_PRESETS) + ")",
    )

    drill = sub.add_parser("drill", help="inject a fault into a live run and report how the system held")
    drill.add_argument("name", metavar="NAME", help="a drill name or `all` (see `loadlab drill list`)")
    add_preset_option(drill)
    add_root_option(drill)
    add_cpus_option(drill)
    drill.add_argument(
        "--knee",
        type=int,
        default=default_knee(),
        metavar="USERS",
        help="the preset's capacity knee in users: the overload drill runs at it and spikes to 10x (default: the "
        "last `loadlab bench` under --root with the same --cpus, else measured first; env LOADLAB_KNEE)",
    )
    add_load_options(drill, users=30, duration=35)

    soak = sub.add_parser("soak", help="the seed mix at 70 %% of the knee for a long while, judged window by window")
    add_preset_option(soak)
    add_root_option(soak)
    soak.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("LOADLAB_SOAK_MINUTES", 30)),
        metavar="N",
        help="how long (default 30; env LOADLAB_SOAK_MINUTES)",
    )
    soak.add_argument(
        "--knee",
        type=int,
        default=default_knee(),
        metavar="USERS",
        help="the preset's capacity knee in users (default: the last `loadlab bench` under --root "
        "that found one, else measured first; env LOADLAB_KNEE)",
    )
    soak.add_argument(
        "--window",
        type=int,
        default=300,
        metavar="SECONDS",
        help="seconds per window (default 300; a quarter of a run shorter than 4 windows)",
    )
    soak.add_argument(
        "-w",
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="Locust worker processes (default 2; env LOADLAB_WORKERS)",
    )
    matrix = sub.add_parser("diagnose-matrix", help="run the planted bottlenecks (lab/planted/): planted vs named")
    matrix.add_argument("cases", nargs="*", metavar="CASE", help="some cases only (default: all)")
    add_root_option(matrix)
    matrix.add_argument(
        "-t",
        "--duration",
        type=int,
        default=None,
        metavar="SECONDS",
        help="seconds of load per case (default: loadlab.planted.DURATION)",
    )
    return parser


def _say(message: str) -> None:
    print(f"loadlab: {message}", file=sys.stderr, flush=True)


def load_options(args: argparse.Namespace) -> LoadOptions:
    accounts = args.accounts if args.accounts is not None else max(3, min(args.users, 100))
    return LoadOptions(
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration=args.duration,
        workers=args.workers,
        scenario=args.scenario,
        shape=args.shape,
        step_users=args.step_users,
        step_interval=args.step_interval,
        thresholds=args.thresholds,
        accounts=accounts,
        cpus=args.cpus,
        locustfile=getattr(args, "locustfile", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "down":
            from loadlab.stack import down

            print(f"loadlab: stopped {down(args.run_dir)} process group(s)")
            return 0
        if args.command == "compare":
            from loadlab.compare import run_compare

            return run_compare(args.root, args.presets, load_options(args))
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "drill":
            return cmd_drill(args)
        if args.command == "soak":
            return cmd_soak(args)
        if args.command == "diagnose-matrix":
            return cmd_diagnose_matrix(args)
    except (presets.PresetError, ValueError, FileNotFoundError, CpuLimitError, ServiceError) as exc:
        print(f"loadlab: {exc}", file=sys.stderr)
        return 2
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from loadlab.lab import run_lab
    from loadlab.report import report_line, summary_text

    options = load_options(args)
    if args.host:
        from loadlab.elsewhere import run_elsewhere

        result = run_elsewhere(args.root, args.host, options, run_id=args.run_id)
    else:
        result = run_lab(args.root, presets.load(args.preset), options, run_id=args.run_id, keep=args.keep)
    print()
    print(summary_text(result))
    if result.urls:
        print("kept running (stop with `loadlab down " + str(result.outdir.parent) + "`):")
        for name, url in result.urls.items():
            print(f"  {name}: {url}")
    print(report_line(result))  # the last line: the page to open
    if result.interrupted:
        return 130
    return 0 if result.passed else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from loadlab import bench

    plan = bench.BenchPlan.smoke() if args.smoke else bench.BenchPlan()
    plan = bench.BenchPlan(**{**plan.__dict__, "presets": tuple(args.presets), "cpus": args.cpus})
    results = bench.run_bench(args.root, plan, say=lambda m: print(m, file=sys.stderr, flush=True))
    print()
    bench.print_results(results)
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    from loadlab import drills

    if args.name == "list":
        for drill in drills.DRILLS.values():
            print(f"{drill.name:20} {drill.what}")
        return 0
    names = list(drills.DRILLS) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in drills.DRILLS]
    if unknown:
        raise ValueError(f"unknown drill {unknown[0]!r}; known: {', '.join(drills.DRILLS)}, all")
    preset = presets.load(args.preset)
    knee = None
    if "overload" in names:
        from loadlab import knee as knees

        knee, source = knees.resolve(args.root, preset, load_options(args), args.knee, say=_say)
        _say(f"overload: the knee is {knee} users ({source})")
    chosen = [drills.get(n, knee=knee) for n in names]
    outcomes = [drills.run_drill(args.root, preset, drill, load_options(args)) for drill in chosen]
    print()
    print(drills.summary_table(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


def cmd_soak(args: argparse.Namespace) -> int:
    from loadlab import knee as knees
    from loadlab import soak

    preset = presets.load(args.preset)
    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes:g}")
    knee, source = knees.resolve(args.root, preset, LoadOptions(workers=args.workers), args.knee, say=_say)
    result = soak.run_soak(args.root, preset, knee, source, args.minutes, args.workers, args.window)
    print()
    print(soak.summary(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())


def cmd_diagnose_matrix(args: argparse.Namespace) -> int:
    from loadlab import planted

    unknown = [c for c in args.cases if c not in planted.BY_NAME]
    if unknown:
        raise ValueError(f"no planted case {', '.join(unknown)}: choose from {', '.join(planted.BY_NAME)}")
    duration = args.duration or planted.DURATION
    outcomes = planted.run_matrix(args.root, args.cases, duration=duration)
    return planted.print_matrix(outcomes)
