import subprocess
import sys

from luxlogd import __version__
from luxlogd.cli import main


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"luxlogd {__version__}"
    assert main(["--help"]) == 0
    assert "check-config" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["--log-level", "loud", "check-config"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_check_config_prints_the_effective_configuration(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[heatpump]\nhost = "10.1.2.3"\n')
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'host = "10.1.2.3"' in out and "interval_s = 30.0" in out
    assert main(["--config", str(path), "check-config"]) == 0


def test_check_config_exits_78_with_one_line_per_problem(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('[heatpump]\nport = "8889x"\nbogus = 1\n')
    monkeypatch.setenv("LUXLOGD_POLL_INTERVAL_S", "fast")
    assert main(["--config", str(bad), "check-config"]) == 78
    err = capsys.readouterr().err.splitlines()
    assert f'luxlogd: error: {bad}: heatpump.port: expected an integer 1-65535, got "8889x"' in err
    assert any("heatpump.bogus: unknown key" in line for line in err)
    assert any(
        "LUXLOGD_POLL_INTERVAL_S: poll.interval_s: expected a number" in line for line in err
    )
    assert not any("Traceback" in line for line in err)


def test_broken_toml_through_the_installed_entry_point(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[heatpump\n")
    result = subprocess.run(
        [sys.executable, "-m", "luxlogd", "--config", str(bad), "check-config"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 78
    assert result.stderr.startswith(f"luxlogd: error: {bad}: not valid TOML")
    assert "Traceback" not in result.stderr


ARENAS = """
import ctypes, sys, threading
from luxlogd.cli.daemon import fewer_malloc_arenas
mode = sys.argv[1]
if mode != "glibc":  # "glibc": what glibc does on its own, for comparison
    print(fewer_malloc_arenas({"MALLOC_ARENA_MAX": "8"} if mode == "env" else {}))
barrier = threading.Barrier(8)
def work():  # each thread's first malloc picks (or makes) an arena
    keep = [bytearray(60_000) for _ in range(20)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas(mode: str) -> tuple[str, int]:
    """What fewer_malloc_arenas said, and how many arenas glibc's malloc_stats lists."""
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, timeout=8, check=True
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_the_daemon_keeps_to_two_malloc_arenas_however_many_threads_allocate():
    assert arenas("limit") == ("True", 2)
    assert arenas("glibc")[1] > 2  # without the limit eight threads make more: it can tell
    assert arenas("env")[0] == "False"  # MALLOC_ARENA_MAX set (the unit does): left alone
