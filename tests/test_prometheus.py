"""/metrics against the real thing: Debian's Prometheus scrapes two daemons (two simulated
heat pumps), a second Prometheus federates from it, Prometheus agents at two "sites"
remote-write to a central one (the way a fleet is watched), promtool
checks the exposition and every query of the shipped Grafana dashboard."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from luxlogd.sim.simulator import Simulator
from luxlogd.store.reader import Reader
from tests.helpers import eventually, require
from tests.system import free_port

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "packaging" / "grafana" / "luxlogd-dashboard.json"


def dashboard_queries():
    """Every expression of the dashboard, with its variables as Prometheus would get them."""
    board = json.loads(DASHBOARD.read_text())
    return [
        target["expr"].replace("$instance", ".+")
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def sample_exposition(raw=False):
    """The exposition of a daemon with every family present (a poll, sizes, a roll-up)."""
    from luxlogd.health.counters import Counters
    from luxlogd.outputs.metrics import render_metrics
    from tests.helpers import simulated_polls

    poll = simulated_polls(1, start=time.time())[0]
    status = Counters(polls_ok=3, last_success=time.time()).as_dict() | {"storage_ok": True}
    sizes = {
        "wal_bytes": 1,
        "database_bytes": 2,
        "disk_free_bytes": 3,
        "rollup_success": 4.0,
        "rollup_failure": 5.0,
    }
    return render_metrics(status, poll, sizes, raw=raw)


def test_the_dashboard_uses_only_metrics_luxlogd_serves():
    text = sample_exposition()
    served = set(re.findall(r"^([a-z_]+)[{ ]", text, re.MULTILINE))
    for expr in dashboard_queries():
        for name in re.findall(r"\b((?:luxtronik|luxlogd)_[a-z_0-9]+)", expr):
            assert name in served, f"{name} (in {expr}) is not served"


@pytest.mark.parametrize("raw", [False, True])
def test_promtool_has_nothing_to_say_about_the_exposition(raw):
    require(shutil.which("promtool"), "promtool (Debian's prometheus package)")
    checked = subprocess.run(
        ["promtool", "check", "metrics"],
        input=sample_exposition(raw),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(check, timeout=30.0, what=None):
    """Prometheus scrapes every second: ask it every half second."""
    return eventually(check, timeout=timeout, step=0.5, what=what)


def start_prometheus(tmp_path, name, config, *flags, agent=False):
    """Debian's Prometheus with `config`; `agent`: in agent mode (scrape and remote-write
    only, as at a site that sends to a central Prometheus)."""
    port = free_port()
    directory = tmp_path / name
    directory.mkdir()
    (directory / "prometheus.yml").write_text(config)
    storage = "--storage.agent.path" if agent else "--storage.tsdb.path"
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"{storage}={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *(["--enable-feature=agent"] if agent else []),
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=directory,
    )
    wait_for(lambda: _ready(port))
    return process, port


def _ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def render_dashboard(port, tmp_path, seconds):
    """Every panel of the dashboard drawn with data; SAVE_DASHBOARD=path keeps the picture."""
    from tests import dashboard_render, webdriver

    found = dashboard_render.panels(port, DASHBOARD, seconds)
    assert all(panel["series"] for panel in found), [p["title"] for p in found if not p["series"]]
    page = tmp_path / "dashboard.html"
    page.write_text(dashboard_render.page(found))
    if not webdriver.available():
        if os.environ.get("CI"):
            raise AssertionError("chromium is missing (tests/install-debian-packages)")
        return
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(page.as_uri())
        browser.wait_for("return document.body.dataset.done === '1'")
        drawn = browser.run(
            "return [...document.querySelectorAll('.panel')].map(p => [p.firstChild"
            ".textContent, Number(p.dataset.points), p.querySelectorAll('canvas, .stat')"
            ".length])"
        )
        assert len(drawn) == len(found)
        assert all(points > 0 and shapes > 0 for _, points, shapes in drawn), drawn
        if os.environ.get("SAVE_DASHBOARD"):
            Path(os.environ["SAVE_DASHBOARD"]).write_bytes(browser.screenshot())
    finally:
        browser.close()


@pytest.mark.system
@pytest.mark.timeout(300)
def test_prometheus_scrapes_two_daemons_and_every_dashboard_query_answers(tmp_path):
    require(
        shutil.which("prometheus") and shutil.which("promtool"),
        "prometheus and promtool (Debian's prometheus package)",
    )
    processes = []
    simulators = [Simulator(seed=seed, speed=60).start() for seed in (1, 2)]
    try:
        daemons = []
        for number, sim in enumerate(simulators):
            state, web_port = tmp_path / f"pump{number}", free_port()
            config = tmp_path / f"pump{number}.toml"
            config.write_text(
                f'[heatpump]\nhost = "127.0.0.1"\nport = {sim.port}\ntimeout_s = 2\n'
                f'[poll]\ninterval_s = 1\n[storage]\nstate_dir = "{state}"\n'
                f'[web]\nlisten = "127.0.0.1:{web_port}"\n[schedule]\ninternal = false\n'
            )
            subprocess.run(
                [sys.executable, "-m", "luxlogd", "--config", str(config), "rollup"],
                cwd=REPO,
                capture_output=True,
                check=True,
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "luxlogd", "--config", str(config), "run"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(os.environ, RUNTIME_DIRECTORY=str(tmp_path / f"run{number}")),
            )
            processes.append(process)
            daemons.append((f"127.0.0.1:{web_port}", state))
        targets = json.dumps([address for address, _ in daemons])
        rules = tmp_path / "dashboard.rules.yml"
        rules.write_text(
            "groups:\n- name: dashboard\n  rules:\n"
            + "".join(
                f"  - record: dashboard:query_{n}\n    expr: {json.dumps(expr)}\n"
                for n, expr in enumerate(dashboard_queries())
            )
        )
        check = subprocess.run(
            ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        prometheus, port = start_prometheus(
            tmp_path,
            "prometheus",
            (
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files: [{json.dumps(str(rules))}]\n"
                f"scrape_configs:\n- job_name: luxlogd\n  static_configs:\n  - targets: {targets}\n"
            ),
        )
        processes.append(prometheus)
        federation, federated_port = start_prometheus(
            tmp_path,
            "federation",
            (
                "global:\n  scrape_interval: 2s\n"
                "scrape_configs:\n- job_name: federate\n  honor_labels: true\n"
                "  metrics_path: /federate\n  params:\n    'match[]': ['{job=\"luxlogd\"}']\n"
                f"  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"
            ),
        )
        processes.append(federation)
        wait_for(lambda: len([r for r in query(port, "up") if r["value"][1] == "1"]) == 2)
        wait_for(lambda: len(query(port, "luxtronik_info")) == 2)
        observed = float(os.environ.get("DASHBOARD_SECONDS", "8"))
        time.sleep(observed)  # a few scrapes, a few polls (longer for a picture)

        # Each daemon's outdoor temperature in Prometheus is one of its newest polls.
        for address, state in daemons:
            result = query(
                port, f'luxtronik_temperature_celsius{{sensor="outdoor",instance="{address}"}}'
            )
            with Reader(state) as reader:
                times, (column,) = reader.columns(0, 2**62, [(1 << 16) | 15])
            newest = {value / 10 for value in column[-4:]}
            assert len(result) == 1 and float(result[0]["value"][1]) in newest, (result, newest)
        rates = query(port, 'rate(luxtronik_compressor_starts_total{compressor="1"}[1m])')
        assert len(rates) == 2 and all(0 <= float(r["value"][1]) < 1 for r in rates)
        # Every query of the dashboard returns data.
        for n, expr in enumerate(dashboard_queries()):
            wait_for(lambda e=expr: query(port, e), timeout=20, what=expr)
            assert query(port, f"dashboard:query_{n}"), expr
        # The dashboard's panels, drawn from these answers in headless Chromium.
        render_dashboard(port, tmp_path, observed + 10)
        # The way past one machine: a second Prometheus has everything by federation.
        wait_for(lambda: len(query(federated_port, "luxtronik_info")) == 2)
        # A fleet: at each site a Prometheus in agent mode scrapes its luxlogd and
        # remote-writes to one central Prometheus, which answers per heat pump.
        central, central_port = start_prometheus(
            tmp_path,
            "central",
            "global:\n  scrape_interval: 5s\n",
            "--web.enable-remote-write-receiver",
        )
        processes.append(central)
        for site, (address, _) in zip(("north", "south"), daemons, strict=True):
            agent, _ = start_prometheus(
                tmp_path,
                f"agent-{site}",
                (
                    f"global:\n  scrape_interval: 1s\n  external_labels:\n    site: {site}\n"
                    f"scrape_configs:\n- job_name: luxlogd\n  static_configs:\n"
                    f"  - targets: ['{address}']\n"
                    f"remote_write:\n- url: http://127.0.0.1:{central_port}/api/v1/write\n"
                ),
                agent=True,
            )
            processes.append(agent)
        wait_for(lambda: len(query(central_port, "luxlogd_build_info")) == 2, timeout=60)
        fleet = query(central_port, "luxlogd_build_info")
        names = {sim.port: f"heatpump_127_0_0_1_{sim.port}" for sim in simulators}
        assert {(r["metric"]["site"], r["metric"]["instance"]) for r in fleet} == {
            ("north", daemons[0][0]),
            ("south", daemons[1][0]),
        }
        assert {r["metric"]["heatpump"] for r in fleet} == set(names.values()), fleet
        per_pump = query(
            central_port,
            'max by (site, instance) (luxtronik_temperature_celsius{sensor="outdoor"})',
        )
        assert len(per_pump) == 2, per_pump
        series = query(port, 'count by (instance) ({job="luxlogd"})')
        samples = query(port, "scrape_samples_scraped")
        durations = query(port, "scrape_duration_seconds")
        print(
            "series per instance:",
            {r["metric"]["instance"]: r["value"][1] for r in series},
            "scrape seconds:",
            [r["value"][1] for r in durations],
            "samples:",
            [r["value"][1] for r in samples],
        )
        assert all(int(r["value"][1]) < 200 for r in series)
        for address, _ in daemons:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as page:
                text = page.read()
            checked = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True
            )
            assert checked.returncode == 0 and not checked.stdout + checked.stderr, checked
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for sim in simulators:
            sim.stop()
