import logging
import os
import subprocess
import sys
import textwrap

from luxlogd.health.logs import DedupFilter, configure_logging, journald_priority, stream_is_journal

CHILD = textwrap.dedent(
    """
    import logging
    from luxlogd.health.logs import configure_logging
    setup = configure_logging("debug")
    log = logging.getLogger("luxlogd.test")
    log.warning("heat pump unreachable host=%s", "10.0.0.9")
    log.info("two\\nlines")
    log.debug("detail")
    log.error("broken")
    setup.close()
    """
)


def run_child(environ_extra, stderr_fd):
    env = dict(os.environ, **environ_extra)
    subprocess.run([sys.executable, "-c", CHILD], stderr=stderr_fd, env=env, timeout=30, check=True)


def read_pipe_output(journal_stream_for):
    read_fd, write_fd = os.pipe()
    status = os.fstat(write_fd if journal_stream_for == "self" else read_fd)
    # For "other", name the same pipe's read end: same device, different inode? Pipes share an
    # inode for both ends, so use /dev/null's identity to name a stream that is not stderr.
    if journal_stream_for == "other":
        status = os.stat(os.devnull)
    run_child({"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        return pipe.read()


def test_journald_format_has_priority_prefixes_and_no_timestamp():
    out = read_pipe_output("self").splitlines()
    assert out == [
        "<4>luxlogd.test: heat pump unreachable host=10.0.0.9",
        "<6>luxlogd.test: two",
        "<6>lines",
        "<7>luxlogd.test: detail",
        "<3>luxlogd.test: broken",
    ]


def test_terminal_format_when_journal_stream_names_another_file():
    out = read_pipe_output("other").splitlines()
    assert len(out) == 5
    assert out[0].endswith(" WARNING luxlogd.test: heat pump unreachable host=10.0.0.9")
    assert out[0][:4].isdigit() and not out[0].startswith("<")


def test_stream_is_journal_rejects_garbage():
    assert not stream_is_journal(sys.stderr, {"JOURNAL_STREAM": "nonsense"})
    assert not stream_is_journal(sys.stderr, {})
    assert journald_priority(logging.CRITICAL) == 2 and journald_priority(5) == 7


def test_repeated_messages_collapse_into_one_line_plus_a_count():
    now = [0.0]
    dedup = DedupFilter(window_s=600, clock=lambda: now[0])
    passed = []
    for step in range(40):  # every 30 s for 20 minutes
        now[0] = step * 30.0
        record = logging.LogRecord(
            "luxlogd.poll",
            logging.WARNING,
            __file__,
            1,
            "heat pump unreachable host=%s",
            ("h",),
            None,
        )
        if dedup.filter(record):
            passed.append(record.getMessage())
    assert passed == [
        "heat pump unreachable host=h",
        "heat pump unreachable host=h (repeated 19 times in the last 600 s)",
    ]
    other = logging.LogRecord("luxlogd.poll", logging.INFO, __file__, 1, "recovered", None, None)
    assert dedup.filter(other)


def test_ring_buffer_keeps_recent_records_and_summary_is_flushed(capfd):
    setup = configure_logging("info", stream=sys.stderr, dedup_window_s=600)
    log = logging.getLogger("luxlogd.ringtest")
    for _ in range(5):
        log.warning("same thing")
    log.info("other thing")
    records = setup.ring.snapshot()
    assert [r["message"] for r in records[-2:]] == ["same thing", "other thing"]
    assert [r["message"] for r in setup.ring.snapshot(logging.WARNING)][-1] == "same thing"
    setup.close()
    err = capfd.readouterr().err
    assert err.count("same thing") == 2
    assert "same thing (repeated 4 more times)" in err


def test_full_queue_drops_instead_of_blocking(tmp_path):
    stream = (tmp_path / "stderr.txt").open("w")
    setup = configure_logging("info", stream=stream, dedup_window_s=0)
    setup.listener.stop()  # nobody drains the queue: logging must still return at once
    log = logging.getLogger("luxlogd.flood")
    for index in range(12_000):
        log.info("line %d", index)
    assert setup.queue_handler.dropped == 12_000 - setup.queue_handler.queue.maxsize
    setup.listener.start()
    setup.close()
    stream.close()
    assert (tmp_path / "stderr.txt").read_text().count("\n") == setup.queue_handler.queue.maxsize


def test_a_fatal_one_line_error_is_tagged_err_under_journald(tmp_path):
    """`luxlogd run` without a host exits 78 with one line; journald must see it as err."""
    read_fd, write_fd = os.pipe()
    status = os.fstat(write_fd)
    env = dict(os.environ, JOURNAL_STREAM=f"{status.st_dev}:{status.st_ino}")
    env.pop("LUXLOGD_HEATPUMP_HOST", None)
    empty = tmp_path / "luxlogd.toml"
    empty.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "luxlogd", "--config", str(empty), "run"],
        stderr=write_fd,
        env=env,
        timeout=30,
        check=False,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        lines = pipe.read().splitlines()
    assert done.returncode == 78
    assert lines == [
        f"<3>luxlogd: error: {empty}: heatpump.host: expected a host name or IP "
        f"address, got nothing (set heatpump.host in {empty}, then: systemctl "
        "restart luxlogd)"
    ]


def test_lifecycle_lines_are_never_collapsed():
    """Two reloads a minute apart are two events: both are in the journal."""
    from luxlogd.health.logs import LIFECYCLE, DedupFilter

    dedup = DedupFilter(600.0, clock=lambda: 100.0)
    logger = logging.getLogger("luxlogd.test-lifecycle")

    def record(message, **extra):
        item = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
        item.__dict__.update(extra)
        return item

    assert [dedup.filter(record("configuration reloaded from x", **LIFECYCLE)) for _ in "ab"] == [
        True,
        True,
    ]
    assert [dedup.filter(record("poll failed")) for _ in "ab"] == [True, False]  # others still
