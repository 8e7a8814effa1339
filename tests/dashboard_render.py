"""Render the shipped Grafana dashboard's panels from a real Prometheus without Grafana
(Debian does not package it): every panel's queries go to Prometheus' HTTP API, and a page
lays the answers out on the dashboard's grid with the uPlot the web UI ships. Headless
Chromium shows it; the test checks that every panel drew data, and SAVE_DASHBOARD=path keeps
the picture (docs/dashboard.png). Test helper only."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "luxlogd" / "outputs" / "web" / "static"
COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}
body {{ font: 13px sans-serif; margin: 8px; background: #f4f5f5; }}
#grid {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 20px;
         gap: 6px; }}
.panel {{ background: #fff; border: 1px solid #d8d9da; border-radius: 3px; padding: 4px;
          overflow: hidden; }}
.panel h3 {{ margin: 0 0 2px; font-size: 13px; }}
.stat {{ font-size: 28px; font-weight: bold; margin-top: 12px; }}
.stat small {{ display: block; font-size: 11px; font-weight: normal; color: #666; }}
.legend {{ font-size: 11px; color: #444; }}
</style><script>{js}</script></head><body>
<h2 style="margin:4px 0">luxlogd: the Grafana dashboard's panels, rendered from Prometheus</h2>
<div id="grid"></div><script>
const panels = {panels};
const colors = {colors};
const grid = document.getElementById("grid");
for (const panel of panels) {{
  const box = document.createElement("div");
  box.className = "panel";
  box.style.gridColumn = `${{panel.x + 1}} / span ${{panel.w}}`;
  box.style.gridRow = `${{panel.y + 1}} / span ${{panel.h}}`;
  box.innerHTML = `<h3>${{panel.title}}</h3>`;
  grid.appendChild(box);
  const series = panel.series;
  box.dataset.series = series.length;
  box.dataset.points = series.reduce((n, s) => n + s.values.length, 0);
  if (panel.type === "stat") {{
    for (const s of series) {{
      const v = s.values.length ? s.values[s.values.length - 1][1] : NaN;
      const div = document.createElement("div");
      div.className = "stat";
      div.innerHTML = `${{Number(v).toPrecision(3)}}<small>${{s.label}}</small>`;
      box.appendChild(div);
    }}
    continue;
  }}
  const times = [...new Set(series.flatMap(s => s.values.map(v => v[0])))].sort((a, b) => a - b);
  const data = [times, ...series.map(s => {{
    const at = new Map(s.values);
    return times.map(t => at.has(t) ? at.get(t) : null);
  }})];
  const width = box.clientWidth - 10, height = box.clientHeight - 40;
  new uPlot({{width, height, legend: {{show: false}},
             series: [{{}}, ...series.map((s, i) => ({{label: s.label,
                       stroke: colors[i % colors.length], width: 1.5,
                       paths: panel.type === "state-timeline" ? uPlot.paths.stepped({{align: 1}})
                       : undefined}}))],
             axes: [{{}}, {{size: 70}}]}}, data, box);
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.textContent = series.map(s => s.label).join(" · ");
  box.appendChild(legend);
}}
document.body.dataset.done = "1";
</script></body></html>"""


def _get(port: int, path: str, params: dict[str, object]) -> list[dict]:
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _label(metric: dict[str, str]) -> str:
    shown = {k: v for k, v in metric.items() if k not in ("__name__", "job")}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or metric.get("__name__", "")


def panels(port: int, dashboard: Path, seconds: float) -> list[dict]:
    """Every panel with its series over the last `seconds` (stat panels: the newest value)."""
    board = json.loads(dashboard.read_text())
    end = time.time()
    start = end - seconds
    step = max(1.0, seconds / 300)
    found = []
    for panel in board["panels"]:
        series = []
        for target in panel["targets"]:
            expr = target["expr"].replace("$instance", ".+")
            window = {"query": expr, "start": start, "end": end, "step": step}
            for result in _get(port, "/api/v1/query_range", window):
                values = [[float(t), float(v)] for t, v in result["values"]]
                series.append({"label": _label(result["metric"]), "values": values})
        found.append(
            {"title": panel["title"], "type": panel["type"], **panel["gridPos"], "series": series}
        )
    return found


def page(found: list[dict]) -> str:
    return PAGE.format(
        css=(STATIC / "uPlot.min.css").read_text(),
        js=(STATIC / "uPlot.iife.min.js").read_text(),
        panels=json.dumps(found),
        colors=json.dumps(COLORS),
    )
