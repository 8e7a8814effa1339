"""The daemon's commands: run, demo, status, check-config, simulate."""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from luxlogd.base.errors import EXIT_FAILURE, EXIT_OK, UsageError
from luxlogd.cli.common import Commands, load_args_config, logger, port, positive_float
from luxlogd.config import format_config, require_host
from luxlogd.store.paths import CRASH_FILE


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser(
        "run",
        help="the daemon, in the foreground (systemd Type=notify)",
        description="Poll the heat pump every poll.interval_s and store every reading. "
        "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the configuration.",
    )
    parser.set_defaults(handler=cmd_run)

    parser = commands.add_parser(
        "status",
        help="last poll, samples stored, sizes, disk use; exit 1 when unhealthy",
        description="Report on the daemon and its state directory (works while it runs). "
        "Exit 1 when the daemon is not running, has not stored a poll recently, or its "
        "storage is failing.",
    )
    parser.set_defaults(handler=cmd_status)

    parser = commands.add_parser(
        "check-config",
        help="validate and print the effective configuration",
        description="Validate the configuration (file, environment, defaults) and print the "
        "effective values. Exit 78 when it is invalid or names no heat pump.",
    )
    parser.add_argument("path", nargs="?", help="configuration file (default: the lookup order)")
    parser.set_defaults(handler=cmd_check_config)

    parser = commands.add_parser(
        "demo",
        help="a simulated heat pump plus the daemon and its web page, state in DIR",
        description="Start a simulated heat pump (on real time, with two days of history "
        "stored at the first start) and the daemon polling it every 30 s, with configuration "
        "and state in DIR. The web page is "
        "on http://127.0.0.1:8088/ (another free port when that one is taken; the banner "
        "says which; LUXLOGD_WEB_LISTEN chooses). Ctrl-C stops.",
    )
    parser.add_argument(
        "dir",
        nargs="?",
        default="luxlogd-demo",
        metavar="DIR",
        help="where to keep state (default ./luxlogd-demo)",
    )
    parser.set_defaults(handler=cmd_demo)

    _add_simulate(commands)


def cmd_run(args: argparse.Namespace) -> int:
    from luxlogd.daemon.liveness import StallMonitor, stall_limit_s
    from luxlogd.daemon.service import Service

    config = load_args_config(args)
    require_host(config)
    catch_fatal_signals(config.state_dir, os.environ)
    fewer_malloc_arenas(os.environ)
    limit = stall_limit_s(config.poll.interval_s, os.environ)
    monitor = StallMonitor(limit) if limit else None
    service = Service(config, config_path=args.config, stall_monitor=monitor)
    service.install_signal_handlers()
    return service.run()


FATAL_SIGNALS = {
    "Bus error": "SIGBUS: a file luxlogd had mapped (luxlogd.sqlite-shm) was truncated, or the "
    "disk failed",
    "Aborted": "SIGABRT: the systemd watchdog found the main loop hung",
    "Segmentation fault": "SIGSEGV: a crash in C code (SQLite, Python): please report it",
}


def catch_fatal_signals(state_dir: Path, environ: Mapping[str, str]) -> Path | None:
    """Make a fatal signal (SIGBUS, SIGABRT from the watchdog, SIGSEGV) leave where every
    thread was in a crash file (the runtime directory, else shared memory), and tell
    at start, as one ERROR record, what the previous run's crash file says. A process that
    dies of a signal cannot log; its successor can. Return the crash file, or None (then
    faulthandler writes to stderr)."""
    from luxlogd.health.status import fallback_status_path

    runtime = environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    # Not in the state directory: a file held open there would keep its disk from being
    # unmounted (and a failing disk would swallow the report).
    path = (
        Path(runtime) / CRASH_FILE
        if runtime
        else fallback_status_path(state_dir).with_name(
            fallback_status_path(state_dir).name.replace("-status-", "-crash-")
        )
    )
    try:
        report = path.read_text(errors="replace").strip()
    except OSError:
        report = ""
    if report:
        first = report.splitlines()[0]
        why = next((text for key, text in FATAL_SIGNALS.items() if key in first), "")
        logger.error(
            "the previous run died: %s%s; where each thread was:\n%s",
            first,
            f" ({why})" if why else "",
            report,
        )
        try:
            path.replace(path.with_name(CRASH_FILE + ".1"))
        except OSError:
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w")  # noqa: SIM115 - kept open for as long as the process lives
        faulthandler.enable(handle, all_threads=True)
        return path
    except OSError:
        pass
    try:
        faulthandler.enable(2)  # fd 2: also under pytest capture
    except (OSError, ValueError):  # fd 2 closed
        pass
    return None


M_ARENA_MAX = -8  # glibc's malloc.h
MALLOC_ARENAS = 2


def fewer_malloc_arenas(environ: Mapping[str, str]) -> bool:
    """At most two malloc arenas, before any thread starts; True if glibc took it.

    glibc gives each thread that allocates at the same time as another its own arena, up to
    eight per core, and keeps what each arena once held. The web server answers every
    connection in a thread, so a burst of clients left the daemon 7-10 MiB bigger for good
    (bench/bench_web.py). Python's own allocator does the small objects anyway; two arenas
    cost no measurable speed here. MALLOC_ARENA_MAX in the environment wins (the unit and the
    image set it, so ctypes is not even loaded there); on a C library without mallopt (musl)
    nothing changes.
    """
    if "MALLOC_ARENA_MAX" in environ:
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS))
    except (ImportError, OSError, AttributeError, MemoryError):  # MemoryError: no W+X pages
        return False


def cmd_status(args: argparse.Namespace) -> int:
    from luxlogd.cli import status

    config = load_args_config(args)
    report, healthy = status.build_report(config)
    sys.stdout.write(report)
    return EXIT_OK if healthy else EXIT_FAILURE


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_args_config(args, path=args.path or args.config)
    require_host(config)
    if config.mqtt.enabled:
        from luxlogd.outputs.mqtt import paho

        paho()  # a ConfigError (exit 78) saying how to install it when it is missing
        if config.mqtt.tls and config.mqtt.tls_insecure:
            logger.warning("mqtt.tls_insecure is on: the broker's certificate is not checked")
    if config.web.enabled and not config.web.token:
        from luxlogd.outputs.web.auth import listen_is_loopback

        host = config.web.listen.rpartition(":")[0].strip("[]")
        if not listen_is_loopback(host):
            logger.warning(
                "web.listen is %s without web.token: anyone who can reach this port can read "
                "everything luxlogd recorded; set web.token (or listen on 127.0.0.1)",
                config.web.listen,
            )
    sys.stdout.write(format_config(config))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from luxlogd.sim.demo import Demo

    # The way this demo was started, so the printed commands work as typed (.venv/bin/...).
    started_as = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("luxlogd")
    command = str(started_as) if started_as.name == "luxlogd" else f"{sys.executable} -m luxlogd"
    demo = Demo(Path(args.dir), log_level=args.log_level)
    try:
        print(
            demo.start(command, say=lambda text: print(text, file=sys.stderr, flush=True)),
            flush=True,
        )
        return demo.run()
    finally:
        demo.stop()


def _add_simulate(commands: Commands) -> None:
    from luxlogd.sim.model import DEFAULT_PROFILE, PROFILES
    from luxlogd.sim.simulator import FAULTS

    parser = commands.add_parser(
        "simulate",
        help="serve a simulated heat pump controller",
        description="Serve a simulated Luxtronik 2.x controller speaking the real protocol, "
        "with a thermal model, firmware profiles and fault modes. Ctrl-C stops it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="fault modes:\n" + "\n".join(f"  {name:16} {text}" for name, text in FAULTS.items()),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=port, default=8889, help="TCP port (8889; 0 picks one)")
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=DEFAULT_PROFILE,
        help=f"firmware profile (array lengths), default {DEFAULT_PROFILE}",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the thermal model (1)")
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="simulated seconds per real second (default 1; 60: a minute per second)",
    )
    parser.add_argument(
        "--fault", choices=list(FAULTS), metavar="MODE", help="misbehave in this way (see below)"
    )
    parser.add_argument(
        "--delay",
        type=positive_float,
        default=35.0,
        metavar="S",
        help="with --fault slow: seconds a whole read takes (default 35)",
    )
    parser.add_argument(
        "--replay",
        metavar="DIR",
        help="send the captured 3003.bin, 3004.bin, 3005.bin of DIR byte for byte",
    )
    parser.set_defaults(handler=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from luxlogd.sim.simulator import Simulator

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.replay:
        for name in ("3003.bin", "3004.bin", "3005.bin"):
            if not (Path(args.replay) / name).is_file():
                raise UsageError(f"--replay {args.replay}: {name} not found")
    simulator = Simulator(
        args.host,
        args.port,
        profile=args.profile,
        seed=args.seed,
        speed=args.speed,
        fault=args.fault,
        replay_dir=args.replay,
        delay_s=args.delay,
    )
    simulator.start()
    what = f"replay of {args.replay}" if args.replay else f"profile {args.profile}"
    logging.getLogger("luxlogd").info(
        "simulated controller listening host=%s port=%d %s speed=%g fault=%s",
        simulator.host,
        simulator.port,
        what,
        args.speed,
        args.fault or "none",
    )
    print(f"simulated heat pump on {simulator.host}:{simulator.port} (Ctrl-C stops)", flush=True)
    stop.wait()
    simulator.stop()
    return EXIT_OK
