// luxlogd web UI: charts of the stored polls (uPlot), sensor toggles, latest values,
// daily summary and log lines. Plain JavaScript, no build step, nothing from the Internet.
"use strict";

const GROUPS = [
  ["Temperatures", ["celsius", "kelvin"]],
  ["States", ["boolean", "icon", "errorcode", "level"]],
  ["Counters", ["seconds", "pulses", "energy", "count"]],
  ["Other", null],  // everything else: voltage, flow, pressure, speed, power, raw values
];
const DEFAULT_SENSORS = ["ID_WEB_Temperatur_TA", "ID_WEB_Temperatur_TVL", "ID_WEB_Temperatur_TRL",
                         "ID_WEB_Temperatur_TBW", "ID_WEB_VD1out"];
const UNIT_LABELS = {celsius: "°C", kelvin: "K", boolean: "on/off", seconds: "s", energy: "kWh",
                     bar: "bar", flow: "l/h", voltage: "V", percent: "%", rpm: "rpm", W: "W"};
const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#7f7f7f", "#bcbd22"];
const STORE_KEY = "luxlogd.sensors";

const state = {
  sensors: [],          // from /api/sensors (numeric calculations)
  selected: new Set(),
  charts: [],           // {unit, plot, names}
  from: null, to: null, // Date
  loads: 0,             // completed chart loads (the end-to-end test waits on it)
  loading: 0,           // guards against stale answers
};
window.luxlogd = state;

const $ = (id) => document.getElementById(id);

async function getJSON(url) {
  const response = await fetch(url, {credentials: "same-origin"});
  if (response.status === 401) { location.href = "/login"; throw new Error("sign in"); }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function groupOf(sensor) {
  for (const [name, units] of GROUPS) {
    if (units && units.includes(sensor.unit)) return name;
  }
  return "Other";
}

function unitLabel(unit) { return UNIT_LABELS[unit] || unit || "value"; }

// --- time range ------------------------------------------------------------------------

function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
         `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function setRange(from, to, reload = true) {
  state.from = from; state.to = to;
  $("from").value = toLocalInput(from);
  $("to").value = toLocalInput(to);
  if (reload) loadCharts();
}

function lastHours(hours) {
  const to = new Date(Math.ceil(Date.now() / 60000) * 60000);
  setRange(new Date(to - hours * 3600e3), to);
}

function rangeFromInputs() {
  const from = new Date($("from").value), to = new Date($("to").value);
  if (isNaN(from) || isNaN(to) || to <= from) {
    $("status").textContent = "The range needs a start before its end.";
    return;
  }
  setRange(from, to);
}

// --- sensor toggles --------------------------------------------------------------------

function saveSelection() {
  try { localStorage.setItem(STORE_KEY, JSON.stringify([...state.selected])); } catch (e) { /* private mode */ }
}

function loadSelection(known) {
  let names = DEFAULT_SENSORS;
  try {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (Array.isArray(stored)) names = stored;
  } catch (e) { /* ignore a damaged entry */ }
  return new Set(names.filter((n) => known.has(n)));
}

function renderToggles() {
  const box = $("toggles");
  box.replaceChildren();
  for (const [group] of GROUPS) {
    const members = state.sensors.filter((s) => groupOf(s) === group);
    if (!members.length) continue;
    const fieldset = document.createElement("fieldset");
    fieldset.dataset.group = group;
    const legend = document.createElement("legend");
    legend.textContent = `${group} (${members.length})`;
    fieldset.appendChild(legend);
    for (const sensor of members) {
      const label = document.createElement("label");
      label.className = "toggle";
      label.dataset.name = sensor.name.toLowerCase();
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = sensor.name;
      box.checked = state.selected.has(sensor.name);
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(sensor.name); else state.selected.delete(sensor.name);
        saveSelection();
        loadCharts();
        loadLatest();
      });
      label.append(box, " " + sensor.name.replace(/^ID_WEB_/, ""));
      label.title = `${sensor.name} (${unitLabel(sensor.unit)})`;
      fieldset.appendChild(label);
    }
    box.appendChild(fieldset);
  }
}

function applyFilter() {
  const text = $("filter").value.trim().toLowerCase();
  document.querySelectorAll("#toggles label.toggle").forEach((label) => {
    label.hidden = text !== "" && !label.dataset.name.includes(text);
  });
}

// --- charts ----------------------------------------------------------------------------

function mergeSeries(answers) {
  // One x axis for all series of a chart: the union of bucket starts, gaps as null.
  const times = [...new Set(answers.flatMap((a) => a.t))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = answers.map((a) => {
    const column = new Array(times.length).fill(null);
    a.t.forEach((t, i) => { column[index.get(t)] = a.mean[i]; });
    return column;
  });
  return [times, ...columns];
}

function chartWidth() { return Math.max(280, $("charts").clientWidth - 4); }

function makeChart(unit, answers, container) {
  const names = answers.map((a) => a.sensor);
  const opts = {
    width: chartWidth(),
    height: window.innerWidth < 600 ? 220 : 300,
    title: unitLabel(unit),
    // The x axis shows the chosen range, also where no polls were stored.
    scales: {x: {time: true, range: () => [state.from / 1000, state.to / 1000]}},
    series: [{}, ...names.map((name, i) => ({
      label: name.replace(/^ID_WEB_/, ""),
      stroke: COLORS[i % COLORS.length],
      width: 1.5,
      spanGaps: false,
      paths: unit === "boolean" ? uPlot.paths.stepped({align: 1}) : undefined,
    }))],
    axes: [{}, {label: unitLabel(unit), size: 60}],
    cursor: {drag: {x: true, y: false}},
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 5) return;
        const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({left: 0, width: 0}, false);
        setRange(new Date(from * 1000), new Date(to * 1000));  // reload with finer buckets
      }],
    },
  };
  const plot = new uPlot(opts, mergeSeries(answers), container);
  container.addEventListener("dblclick", () => {
    const span = state.to - state.from;
    setRange(new Date(state.from - span / 2), new Date(+state.to + span / 2));
  });
  return plot;
}

async function loadCharts() {
  const ticket = ++state.loading;
  const names = [...state.selected];
  const from = state.from.toISOString(), to = state.to.toISOString();
  const points = Math.min(2000, Math.max(200, Math.round(chartWidth())));
  let answers;
  try {
    answers = await Promise.all(names.map((name) => getJSON(
      `/api/series?sensor=${encodeURIComponent(name)}&from=${encodeURIComponent(from)}` +
      `&to=${encodeURIComponent(to)}&points=${points}`)));
  } catch (error) {
    $("status").textContent = `Charts: ${error.message}`;
    return;
  }
  if (ticket !== state.loading) return;  // a newer request is on its way
  const byUnit = new Map();
  answers.forEach((answer) => {
    const key = answer.unit || "value";
    if (!byUnit.has(key)) byUnit.set(key, []);
    byUnit.get(key).push(answer);
  });
  state.charts.forEach((c) => c.plot.destroy());
  state.charts = [];
  const box = $("charts");
  box.replaceChildren();
  if (!answers.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "Choose sensors below to draw them.";
    box.appendChild(p);
  }
  for (const [unit, group] of byUnit) {
    const container = document.createElement("div");
    container.className = "chart";
    container.dataset.unit = unit;
    box.appendChild(container);
    state.charts.push({unit, names: group.map((a) => a.sensor), points: group[0].t.length,
                       plot: makeChart(unit, group, container)});
  }
  if (answers.length && answers.every((a) => a.t.length === 0)) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No polls stored in this range.";
    box.prepend(p);
  }
  state.loads += 1;
  document.body.dataset.loads = String(state.loads);
}

// --- tables ----------------------------------------------------------------------------

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
}

function formatValue(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(1);
  if (typeof value === "boolean") return value ? "on" : "off";
  return value === null || value === undefined ? "" : String(value);
}

async function loadLatest() {
  const names = [...state.selected];
  const body = $("latest").tBodies[0];
  if (!names.length) { body.replaceChildren(); return; }
  const latest = await getJSON(`/api/latest?sensors=${encodeURIComponent(names.join(","))}`);
  body.replaceChildren();
  for (const [name, [value, unit]] of Object.entries(latest.values)) {
    const row = body.insertRow();
    cell(row, name.replace(/^ID_WEB_/, ""));
    cell(row, formatValue(value), "num");
    cell(row, unitLabel(unit));
  }
}

async function loadStatus() {
  const status = await getJSON("/api/status");
  const line = $("status");
  line.textContent = status.status;
  line.className = status.reachable ? "ok" : "bad";
}

async function loadSummary() {
  const rows = await getJSON("/api/summary?days=7");
  const table = $("summary");
  table.replaceChildren();
  const columns = ["date", "outdoor_mean_c", "flow_mean_c", "compressor_starts", "compressor_hours",
                   "heat_total_kwh", "electric_kwh", "cop", "defrosts"];
  const head = table.createTHead().insertRow();
  columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c.replace(/_/g, " "); head.appendChild(th); });
  const body = table.createTBody();
  rows.forEach((r) => { const row = body.insertRow(); columns.forEach((c) => cell(row, formatValue(r[c]), c === "date" ? "" : "num")); });
  if (!rows.length) { const row = body.insertRow(); cell(row, "No complete day yet."); }
}

async function loadLogs() {
  const lines = await getJSON("/api/logs");
  const table = $("logs");
  table.replaceChildren();
  lines.slice(-20).reverse().forEach((r) => {
    const row = table.insertRow();
    row.className = `level-${String(r.level).toLowerCase()}`;
    cell(row, new Date(r.time * 1000).toLocaleString());
    cell(row, r.level);
    cell(row, r.message);
  });
}

function refresh() {
  loadStatus().catch(() => {});
  loadLatest().catch(() => {});
  loadLogs().catch(() => {});
}

async function start() {
  document.querySelectorAll("#range button[data-hours]").forEach((button) => {
    button.addEventListener("click", () => lastHours(Number(button.dataset.hours)));
  });
  $("from").addEventListener("change", rangeFromInputs);
  $("to").addEventListener("change", rangeFromInputs);
  $("filter").addEventListener("input", applyFilter);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.charts.forEach((c) => c.plot.setSize(
      {width: chartWidth(), height: c.plot.height})), 150);
  });
  const sensors = await getJSON("/api/sensors");
  state.sensors = sensors.filter((s) => s.numeric && s.group === "calculations");
  state.selected = loadSelection(new Set(state.sensors.map((s) => s.name)));
  renderToggles();
  lastHours(24);
  refresh();
  loadSummary().catch(() => {});
  setInterval(refresh, 30000);
}

start().catch((error) => { $("status").textContent = `Cannot load: ${error.message}`; });
