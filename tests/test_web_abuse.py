"""A web client cannot starve or bloat the daemon: bounded bodies, paths, connections, work;
Host checks without a token; a throttled token; no tracebacks."""

import gc
import http.client
import json
import logging
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luxlogd.outputs.web import auth, server
from luxlogd.sim.simulator import Simulator
from tests.helpers import accepts, eventually
from tests.test_web import get, post_login

REPO = Path(__file__).resolve().parent.parent


def raw_request(base, data, read=True, timeout=5):
    host, port = base[7:].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        sock.sendall(data)
        if not read:
            return sock
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        if read:
            sock.close()


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None


def test_a_bad_or_huge_content_length_is_refused_without_reading(web):
    base, _ = web(token="s3cret")
    for length in (b"-1", b"abc", b""):
        answer = raw_request(
            base, b"POST /login HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\ntoken=x"
        )
        assert status_of(answer) == 400, length
    started = time.monotonic()
    answer = raw_request(
        base, b"POST /login HTTP/1.1\r\nContent-Length: 314572800\r\n\r\n" + b"x" * 65536
    )
    assert status_of(answer) == 413 and time.monotonic() - started < 2


def test_long_paths_are_refused_and_never_logged_whole(web, caplog):
    base, _ = web()
    with caplog.at_level(logging.DEBUG, logger="luxlogd"):
        answer = raw_request(base, b"GET /" + b"a" * 60_000 + b" HTTP/1.1\r\n\r\n")
    assert status_of(answer) == 414
    assert max(len(r.getMessage()) for r in caplog.records) < 1_000


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=0001-01-01&to=2026-01-02", "from: expected a time between 1970 and 9998"),
        ("from=2026-01-01&to=9999-12-31", "to: expected a time between 1970 and 9998"),
        ("from=2026-01-01T99:00&to=2026-01-02", "from: expected an ISO 8601"),
    ],
)
def test_times_out_of_range_are_400_not_500(web, query, message):
    base, _ = web()
    status, _, body = get(f"{base}/api/series?sensor=ID_WEB_Temperatur_TA&{query}")
    assert status == 400 and message in json.loads(body)["error"]


def test_work_per_request_is_bounded(web):
    base, _ = web()
    started = time.monotonic()
    patterns = ",".join(["*"] * 3_000)
    status, _, body = get(f"{base}/api/export?from=2026-01-01&to=2026-01-02&sensors={patterns}")
    assert status == 400 and "at most 64 patterns" in json.loads(body)["error"]
    patterns = ",".join(["*,ID_WEB_*"] * 2_000)  # 20 KB
    assert get(f"{base}/api/export?from=2026-01-01&to=2026-01-02&sensors={patterns}")[0] == 414
    assert get(base + "/api/summary?days=366")[0] == 400
    assert get(base + "/api/summary?days=31")[0] == 200
    assert time.monotonic() - started < 5


def test_without_a_token_only_requests_naming_this_machine_are_answered(web, monkeypatch):
    base, _ = web()
    _, port = base[7:].rsplit(":", 1)
    assert get(base + "/api/status", {"Host": "evil.example"})[0] == 403
    assert get(base + "/api/status", {"Host": f"evil.example:{port}"})[0] == 403
    for host in (
        f"127.0.0.1:{port}",
        "localhost",
        f"[::1]:{port}",
        "192.168.1.50",
        socket.gethostname(),
    ):
        assert get(base + "/api/status", {"Host": host})[0] == 200, host
    monkeypatch.setenv("LUXLOGD_WEB_ALLOWED_HOSTS", "heatpump.home.arpa")
    named, _ = web()
    assert get(named + "/api/status", {"Host": "heatpump.home.arpa"})[0] == 200


def test_wrong_tokens_are_throttled_and_logged_once(web, caplog):
    base, _ = web(token="s3cret")
    with caplog.at_level(logging.WARNING, logger="luxlogd"):
        for _ in range(auth.FAILURES_ALLOWED):
            assert get(base + "/api/status", {"Authorization": "Bearer guess"})[0] == 401
        assert get(base + "/api/status", {"Authorization": "Bearer s3cret"})[0] == 429
        assert post_login(base, "s3cret")[0] == 429
        for _ in range(20):
            get(base + "/api/status", {"Authorization": "Bearer guess"})
    warnings = [r.getMessage() for r in caplog.records if "wrong tokens from" in r.getMessage()]
    assert len(warnings) == 1


def test_the_session_cookie_is_not_the_token_and_expires(web):
    base, _ = web(token="s3cret")
    status, cookie = post_login(base, "s3cret")
    assert status == 303
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value != "s3cret" and "s3cret" not in cookie
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={30 * 86400}"):
        assert attribute in cookie
    assert get(base + "/api/status", {"Cookie": cookie.split(";")[0]})[0] == 200
    assert get(base + "/api/status", {"Cookie": "luxlogd_session=s3cret"})[0] == 401


def test_the_page_redirects_to_a_login_form_not_a_json_error(web):
    base, _ = web(token="s3cret")
    status, headers, body = get(base + "/login")
    assert status == 200 and b'name="token"' in body
    assert get(base + "/static/style.css")[0] == 200  # the form's style sheet
    assert get(base + "/static/app.js")[0] == 401


def test_connections_beyond_the_cap_are_turned_away_at_once(web, monkeypatch):
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 8)
    base, _ = web()
    host, port = base[7:].rsplit(":", 1)
    held = [socket.create_connection((host, int(port))) for _ in range(8)]
    time.sleep(0.3)
    extra = socket.create_connection((host, int(port)), timeout=2)
    assert extra.recv(100).startswith(b"HTTP/1.0 503")
    extra.close()
    for sock in held:
        sock.close()
    time.sleep(0.3)
    assert get(base + "/healthz")[0] == 200


def test_a_request_that_dribbles_in_is_cut_at_its_deadline(web, monkeypatch):
    monkeypatch.setattr(server, "READ_DEADLINE_S", 1.0)
    base, _ = web()
    sock = raw_request(base, b"GET /healthz HTTP/1.1\r\n", read=False)
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 5:
        try:
            sock.sendall(b"X")  # a byte at a time, each within the socket timeout
            if sock.recv(100, socket.MSG_DONTWAIT) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        except OSError:
            closed = True
            break
        time.sleep(0.2)
    sock.close()
    assert closed and time.monotonic() - started < 3


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def start_daemon(tmp_path, port, web_port, token=""):
    path = tmp_path / "luxlogd.toml"
    path.write_text(
        f'[heatpump]\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 2\nretries = 0\n'
        f'[poll]\ninterval_s = 0.5\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\ntoken = "{token}"\n'
        "[schedule]\ninternal = false\n"
    )

    def limits():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # Debian's default soft limit

    process = subprocess.Popen(
        [sys.executable, "-m", "luxlogd", "--config", str(path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=limits,
        env=dict(os.environ, RUNTIME_DIRECTORY=str(tmp_path / "run")),
    )
    eventually(lambda: accepts(web_port), timeout=10, step=0.1, what=f"web port {web_port}")
    return process


def polls_ok(tmp_path):
    try:
        return json.loads((tmp_path / "run" / "status.json").read_text())["polls_ok"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.system
@pytest.mark.timeout(120)
def test_abuse_of_a_running_daemon_keeps_polls_going_and_memory_bounded(tmp_path):
    """The daemon as systemd runs it (open-file limit 1,024), attacked: a 300 MiB login body,
    1,100 connections that never finish, long paths. Polls go on every 0.5 s, RSS stays
    bounded, no traceback reaches stderr."""
    from tests.system import free_port

    web_port = free_port()
    with Simulator() as sim:
        process = start_daemon(tmp_path, sim.port, web_port, token="s3cret")
        try:
            time.sleep(2)
            base = f"http://127.0.0.1:{web_port}"
            before_rss, before_polls, started = rss_kb(process.pid), polls_ok(tmp_path), time.time()
            # 300 MiB of login body, announced and sent as fast as it goes.
            sock = socket.create_connection(("127.0.0.1", web_port))
            sock.sendall(b"POST /login HTTP/1.1\r\nContent-Length: 314572800\r\n\r\n")
            try:
                for _ in range(300 * 16):
                    sock.sendall(b"x" * 65536)
            except OSError:
                pass  # turned away: good
            sock.close()
            # 1,100 connections that send half a request line and then nothing.
            held = []
            for _ in range(1_100):
                try:
                    held.append(socket.create_connection(("127.0.0.1", web_port), timeout=2))
                    held[-1].sendall(b"GET /heal")
                except OSError:
                    break
            for _ in range(200):  # 60 KB paths
                raw_request(base, b"GET /" + b"b" * 60_000 + b" HTTP/1.1\r\n\r\n")
            time.sleep(3)
            during_polls = polls_ok(tmp_path)
            for sock in held:
                sock.close()
            time.sleep(1.5)
            answer = get(base + "/healthz", {"Authorization": "Bearer s3cret"})
            elapsed = time.time() - started
            after_rss, after_polls = rss_kb(process.pid), polls_ok(tmp_path)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
    err = process.stderr.read()
    print(
        f"rss_kb before={before_rss} after={after_rss} polls={after_polls - before_polls} "
        f"in {elapsed:.1f} s held={len(held)}"
    )
    assert answer[0] == 200
    assert len(held) >= 1_000
    assert "Too many open files" not in err and "Traceback" not in err
    assert after_polls - before_polls >= 0.8 * elapsed / 0.5 - 2  # the cadence held
    assert during_polls > before_polls
    assert after_rss - before_rss < 40_000  # KB; it grew by 287 MB before the fix
    assert os.path.getsize(tmp_path / "run" / "status.json") < 100_000
    assert len(err) < 200_000  # logs are truncated: not 74 MB


def test_guesses_from_many_addresses_meet_one_budget(web, caplog):
    """250 loopback addresses, 4 guesses each (under the per-address limit): after the
    budget of all addresses together, guesses are turned away, logged once; an address that
    showed the right token before still gets in."""
    base, _ = web(token="s3cret")
    port = int(base.rsplit(":", 1)[1])
    assert get_from("127.0.0.2", port, "s3cret") == 200  # the scraper, before the burst
    answers = []
    with caplog.at_level(logging.WARNING, logger="luxlogd"):
        for host in range(10, 260):
            for _ in range(4):
                answers.append(
                    get_from(
                        f"127.0.1.{host - 5}" if host > 255 else f"127.0.0.{host}", port, "guess"
                    )
                )
    assert answers.count(401) == auth.GLOBAL_FAILURES
    assert answers.count(429) == len(answers) - auth.GLOBAL_FAILURES
    assert get_from("127.0.0.2", port, "s3cret") == 200
    assert get_from("127.0.0.3", port, "s3cret") == 429  # not trusted yet: wait a minute
    bursts = [m for m in caplog.messages if "wrong tokens within" in m]
    assert len(bursts) == 1 and "turning away every address" in bursts[0]


def get_from(source, port, token):
    """GET /api/status from a given loopback source address with a Bearer token."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/api/status", headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_an_export_dropped_halfway_is_one_debug_line_not_a_traceback(web, caplog, monkeypatch):
    base, polls = web()
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    query = b"/api/export?from=2000-01-01&to=2099-01-01&sensors=calculations&format=json"
    with caplog.at_level(logging.DEBUG, logger="luxlogd"):
        for _ in range(20):
            sock = raw_request(base, b"GET " + query + b" HTTP/1.0\r\n\r\n", read=False)
            sock.recv(1000)  # the answer has begun
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # a reset: the rest cannot be sent
        assert get(base + "/api/status")[0] == 200  # the server is fine
        time.sleep(0.3)
        gc.collect()
    assert unraisable == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert sum("went away" in m for m in caplog.messages) >= 1


def test_the_sign_in_page_says_where_the_token_comes_from_and_what_went_wrong(web):
    """A page in the product's style, English or German; a browser that sends a wrong token
    gets the page again with the reason, not raw JSON (scripts still get JSON)."""
    base, _ = web(token="s3cret")
    status, _, body = get(base + "/")
    page = body.decode()
    assert status == 200 and "web.token" in page and "/etc/luxlogd/luxlogd.toml" in page
    assert '<html lang="en">' in page and "Sign in" in page
    german = get(base + "/?lang=de")[2].decode()
    assert '<html lang="de">' in german and "Anmelden" in german and "web.token" in german
    host, port = base[7:].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(
            "POST",
            "/login?lang=de",
            body="token=wrong",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "text/html,application/xhtml+xml",
            },
        )
        answer = connection.getresponse()
        text = answer.read().decode()
    finally:
        connection.close()
    assert answer.status == 401 and answer.getheader("Content-Type").startswith("text/html")
    assert "nicht das Token" in text and 'role="alert"' in text
    assert post_login(base, "wrong")[0] == 401  # a script (no HTML asked for): JSON as before
