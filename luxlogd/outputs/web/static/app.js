// luxlogd web UI: the heat pump at a glance, charts of the stored polls (uPlot: the mean,
// and the min/max of each bucket as an envelope), the operating mode as a band, where polls
// are missing, sensor toggles, summaries and statistics. Plain JavaScript, no build step,
// nothing from the Internet. Sensor names, labels and units come from the API.
"use strict";

const T = {
  en: {language: "Language", compressor: "Compressor", today: "Today so far", from: "From", to: "To",
       date_format: "YYYY-MM-DD hh:mm", bad_range: "a time like 2026-11-30 19:30; From before To",
       filter: "filter",
       zoom: "Drag across a chart to zoom in; double-click to zoom out.", sensors: "Sensors",
       showall: "show hidden fields (visibility flags, unknown fields, sensors not connected)",
       latest: "Latest values", sensor: "sensor", value: "value", unit: "unit",
       daily: "Daily summary", stats: "Statistics", log: "Recent log lines", since: "since",
       heat_output: "Heat output", cop_hour: "COP, last hour", cop_now: "COP now", heat: "Heat", electric: "Electric",
       cop: "COP", starts: "Starts", hours: "Running", run: "Per run", defrosts: "Defrosts",
       hot_water_cycles: "Hot water", errors: "Last errors", switch_offs: "Last switch-offs",
       no_polls: "No polls stored in this range.", choose: "Choose sensors below to draw them.",
       this_month: "this month", last_month: "last month", this_season: "this heating season",
       last_season: "last heating season", date: "date", polls: "polls", outdoor: "outdoor",
       mixed: "changing", coverage: "of the polls due stored", partial: "so far",
       groups: ["Temperatures", "Pumps, valves, heaters", "Energy and counters", "States",
                "Other"],
       nothing: "No complete day yet.", at: "at", quality: "data quality",
       on_off: "on/off",
       reachable: "heat pump reachable", unreachable: "heat pump unreachable since",
       last_poll: "last poll", failed_polls: "polls failed",
       stale: (ago) => `These values are from the last poll, ${ago} ago: the heat pump does not answer now.`,
       performance: "How well it runs", cop_chart: "COP against outdoor temperature: a dot per day of space heating",
       curve_chart: "The heating curve as it runs: temperatures against outdoor temperature",
       mode: "mode", combined: "all modes", space: "space heating", water: "hot water", cooling: "cooling",
       elec_kwh: "electricity kWh", heat_kwh: "heat kWh", run_hours: "hours", flow_mean: "flow °C",
       outdoor_mean: "outdoor °C", carnot: "% of Carnot", outdoor_axis: "outdoor °C (mean while heating)", curve_axis: "outdoor °C",
       flow_c: "flow", return_c: "return", target_c: "return set point", temperature: "°C",
       no_cop: "No day with a space-heating COP in this period.",
       no_curve: "No space heating in this period.", not_measured: "not measured by this controller",
       day_figures: (d) => `${d.date}: COP ${number(d.space_cop, 2)} at ${number(d.space_outdoor_mean_c)} °C outside, flow ${number(d.space_flow_mean_c)} °C, heat ${number(d.space_heat_kwh)} kWh, electricity ${number(d.space_elec_kwh)} kWh`},
  de: {language: "Sprache", compressor: "Verdichter", today: "Heute bisher", from: "Von", to: "Bis",
       date_format: "TT.MM.JJJJ hh:mm", bad_range: "eine Zeit wie 30.11.2026 19:30; Von vor Bis",
       filter: "Filter",
       zoom: "Zum Vergrößern über ein Diagramm ziehen, Doppelklick verkleinert.", sensors: "Sensoren",
       showall: "verborgene Felder zeigen (Sichtbarkeiten, unbekannte Felder, nicht angeschlossene Fühler)",
       latest: "Aktuelle Werte", sensor: "Sensor", value: "Wert", unit: "Einheit",
       daily: "Tageszusammenfassung", stats: "Statistik", log: "Letzte Meldungen", since: "seit",
       heat_output: "Heizleistung", cop_hour: "COP, letzte Stunde", cop_now: "COP jetzt", heat: "Wärme",
       electric: "Strom", cop: "COP", starts: "Starts", hours: "Laufzeit", run: "Je Lauf",
       defrosts: "Abtauungen", hot_water_cycles: "Warmwasser", errors: "Letzte Fehler",
       switch_offs: "Letzte Abschaltungen", no_polls: "In diesem Zeitraum sind keine Abfragen gespeichert.",
       choose: "Unten Sensoren wählen, um sie zu zeichnen.", this_month: "dieser Monat",
       last_month: "letzter Monat", this_season: "diese Heizperiode", last_season: "letzte Heizperiode",
       date: "Datum", polls: "Abfragen", outdoor: "außen", mixed: "wechselnd",
       coverage: "der fälligen Abfragen gespeichert", partial: "bisher",
       groups: ["Temperaturen", "Pumpen, Ventile, Heizstäbe", "Energie und Zähler", "Zustände",
                "Weitere"],
       nothing: "Noch kein vollständiger Tag.", at: "um", quality: "Datenqualität",
       on_off: "an/aus",
       reachable: "Wärmepumpe erreichbar", unreachable: "Wärmepumpe nicht erreichbar seit",
       last_poll: "letzte Abfrage", failed_polls: "Abfragen fehlgeschlagen",
       stale: (ago) => `Diese Werte sind von der letzten Abfrage vor ${ago}: die Wärmepumpe antwortet gerade nicht.`,
       performance: "Wie gut sie läuft", cop_chart: "COP über Außentemperatur: ein Punkt je Heiztag",
       curve_chart: "Die Heizkurve, wie sie läuft: Temperaturen über Außentemperatur",
       mode: "Betriebsart", combined: "alle", space: "Heizen", water: "Warmwasser", cooling: "Kühlen",
       elec_kwh: "Strom kWh", heat_kwh: "Wärme kWh", run_hours: "Stunden", flow_mean: "Vorlauf °C",
       outdoor_mean: "außen °C", carnot: "% von Carnot", outdoor_axis: "außen °C (Mittel beim Heizen)", curve_axis: "außen °C",
       flow_c: "Vorlauf", return_c: "Rücklauf", target_c: "Rücklauf-Soll", temperature: "°C",
       no_cop: "Kein Tag mit Heiz-COP in diesem Zeitraum.",
       no_curve: "Kein Heizbetrieb in diesem Zeitraum.", not_measured: "von diesem Regler nicht gemessen",
       day_figures: (d) => `${d.date}: COP ${number(d.space_cop, 2)} bei ${number(d.space_outdoor_mean_c)} °C außen, Vorlauf ${number(d.space_flow_mean_c)} °C, Wärme ${number(d.space_heat_kwh)} kWh, Strom ${number(d.space_elec_kwh)} kWh`},
};
const GROUP_KINDS = [["temperature", "temperature_difference"], ["output", "input"],
                     ["heat_energy", "electric_energy", "operating_time", "starts"], ["state"], null];
const DEFAULT_SENSORS = ["outdoor", "flow", "return", "hot_water", "compressor"];
const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#7f7f7f", "#bcbd22"];
const MODE_COLORS = {0: "#e4572e", 1: "#2e86de", 2: "#16a085", 3: "#f1c40f", 4: "#8e44ad",
                     5: "#c8ced3", 6: "#d35400", 7: "#00bcd4"};
const STORE_KEY = "luxlogd.sensors", LANG_KEY = "luxlogd.language";

const state = {
  language: "en",
  sensors: [],          // from /api/sensors
  byId: new Map(),
  selected: new Set(),
  charts: [],           // {unit, plot, names, points, envelope}
  band: null,           // the operating-mode band: {plot, buckets}
  coverage: [],
  interval: 30,
  from: null, to: null, // Date
  loads: 0,             // completed chart loads (the end-to-end test waits on it)
  loading: 0,           // guards against stale answers
  glance: null,
  copPlot: null, curvePlot: null, copPoints: [],
  performanceLoads: 0,  // completed statistics loads (the end-to-end test waits on it)
};
window.luxlogd = state;

const $ = (id) => document.getElementById(id);
const t = (key) => (T[state.language] || T.en)[key] || T.en[key] || key;
const idOf = (s) => s.key || s.name;

async function getJSON(url, tries = 4) {
  const response = await fetch(url, {credentials: "same-origin"});
  if (response.status === 401) { location.href = "/login"; throw new Error("sign in"); }
  if (response.status === 503 && tries > 1) {
    // Busy: the server computes a few heavy answers at a time (a page's first load asks for
    // several at once, a Raspberry Pi takes its time). Ask again when it says.
    const wait = Math.min(5, Number(response.headers.get("Retry-After")) || 2);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    return getJSON(url, tries - 1);
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function clock(epoch) {
  if (!epoch) return "";
  const date = new Date(epoch * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString(state.language, {hour: "2-digit", minute: "2-digit"})
               : date.toLocaleString(state.language, {dateStyle: "short", timeStyle: "short"});
}

const TENTHS = new Set(["°C", "K", "bar", "kWh"]);  // measured in tenths: always one decimal

function number(value, digits = 1, unit = "") {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value !== "number") return String(value);
  if (TENTHS.has(unit)) {
    return value.toLocaleString(state.language, {minimumFractionDigits: 1, maximumFractionDigits: Math.max(1, digits)});
  }
  return Number.isInteger(value) ? value.toLocaleString(state.language)
    : value.toLocaleString(state.language, {maximumFractionDigits: digits});
}

function translatePage() {
  document.documentElement.lang = state.language;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
  for (const id of ["from", "to"]) $(id).placeholder = t("date_format");
  if (state.from && state.to) setRange(state.from, state.to, false);
  $("language").value = state.language;
}

// --- at a glance -----------------------------------------------------------------------

function figure(list, label, text, missing) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = label;
  dd.textContent = text;
  if (missing) dd.className = "missing";
  div.append(dt, dd);
  list.appendChild(div);
}

function withUnit(value, unit, digits) {
  return value === null || value === undefined ? "–" : `${number(value, digits, unit)}${unit ? " " + unit : ""}`;
}

async function loadGlance() {
  const g = await getJSON(`/api/glance?lang=${state.language}`);
  state.glance = g;
  if (g.time === null) { $("mode").textContent = t("no_polls"); return; }
  markStale(g.time);
  $("mode").textContent = g.mode.text;
  $("mode").style.color = MODE_COLORS[g.mode.code] || "";
  $("mode-since").textContent = g.mode.since ? `${t("since")} ${clock(g.mode.since)}` : "";
  $("compressor").textContent = g.compressor.text;
  $("compressor-since").textContent = g.compressor.since ? `${t("since")} ${clock(g.compressor.since)}` : "";
  const lines = [...g.status_lines];
  if (g.status_for_s !== null && g.status_for_s !== undefined) {
    lines[1] = `${lines[1]} ${Math.floor(g.status_for_s / 3600)}:${String(Math.floor(g.status_for_s / 60) % 60).padStart(2, "0")} h`;
  }
  $("lines").textContent = lines.join(" · ");
  const now = $("now"); now.replaceChildren();
  g.now.forEach((e) => figure(now, e.label, withUnit(e.value, e.unit)));
  const output = $("output"); output.replaceChildren();
  if (g.heat_output.value === null) figure(output, t("heat_output"), g.heat_output.why, true);
  else figure(output, t("heat_output"), withUnit(g.heat_output.value / 1000, "kW", 2));
  if (g.cop_now.value === null) figure(output, t("cop_now"), g.cop_now.why || "–", true);
  else figure(output, t("cop_now"), number(g.cop_now.value, 2));
  if (g.cop_last_hour.value === null) figure(output, t("cop_hour"), g.cop_last_hour.why || "–", true);
  else figure(output, t("cop_hour"), number(g.cop_last_hour.value, 2));
  const d = g.today, today = $("today"); today.replaceChildren();
  figure(today, t("heat"), withUnit(d.heat_kwh, "kWh"));
  if (d.electric_why) figure(today, t("electric"), d.electric_why, true);
  else figure(today, t("electric"), withUnit(d.electric_kwh, "kWh"));
  figure(today, t("cop"), number(d.cop, 2));
  figure(today, t("starts"), number(d.starts));
  figure(today, t("hours"), withUnit(d.hours, "h"));
  figure(today, t("run"), withUnit(d.average_run_min, "min", 0));
  figure(today, t("defrosts"), number(d.defrosts));
  figure(today, t("hot_water_cycles"), number(d.hot_water_cycles));
  const events = $("events"); events.replaceChildren();
  for (const [key, list] of [["errors", g.errors], ["switch_offs", g.switch_offs]]) {
    if (!list.length) continue;
    const p = document.createElement("p");
    p.textContent = `${t(key)}: ` + list.slice(0, 3).map((e) => `${e.code} ${e.text} (${clock(e.time)})`).join("; ");
    events.appendChild(p);
  }
  const quality = $("quality"); quality.replaceChildren();
  [...(state.qualityNotes || []), ...(d.notes || [])].slice(0, 8).forEach((note) => {
    const li = document.createElement("li");
    li.textContent = `${t("quality")}: ${note}`;
    quality.appendChild(li);
  });
}

// --- time range ------------------------------------------------------------------------

// The range's fields are text in the page's language (30.11.2026 19:23 in German,
// 2026-11-30 19:23 in English), not the browser's date fields, which follow the browser's
// locale whatever the page speaks. Either form is read back.
function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return state.language === "de"
    ? `${pad(date.getDate())}.${pad(date.getMonth() + 1)}.${date.getFullYear()} ${time}`
    : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

function fromLocalInput(text) {
  const german = /^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[\sT,]+(\d{1,2}):(\d{2}))?\s*$/.exec(text);
  const iso = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[\sT]+(\d{1,2}):(\d{2}))?\s*$/.exec(text);
  const [year, month, day, hour, minute] = german
    ? [german[3], german[2], german[1], german[4], german[5]]
    : iso ? iso.slice(1, 6) : [];
  if (!year) return new Date(NaN);
  const date = new Date(+year, +month - 1, +day, +(hour || 0), +(minute || 0));
  return date.getMonth() === +month - 1 ? date : new Date(NaN);  // not 31.02.
}

function setRange(from, to, reload = true) {
  state.from = from; state.to = to;
  $("from").value = toLocalInput(from);
  $("to").value = toLocalInput(to);
  if (reload) { loadCharts(); loadCoverage().catch(() => {}); }
}

function lastHours(hours) {
  const to = new Date(Math.ceil(Date.now() / 60000) * 60000);
  setRange(new Date(to - hours * 3600e3), to);
}

async function openingHours() {
  // The charts open on a range the data fills: the hours since the first poll (a new
  // installation, the demo), at least 1 h and at most 24 h.
  const now = new Date(), yesterday = new Date(now - 86400e3);
  const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  try {
    const answer = await getJSON(`/api/coverage?from=${day(yesterday)}&to=${day(now)}`);
    const stored = answer.days.reduce((sum, d) => sum + d.stored, 0);
    return Math.min(24, Math.max(1, Math.ceil(stored * answer.interval_s / 3600)));
  } catch (e) {
    return 24;
  }
}

function rangeFromInputs() {
  const from = fromLocalInput($("from").value), to = fromLocalInput($("to").value);
  const bad = isNaN(from) || isNaN(to) || to <= from;
  $("range-error").textContent = bad ? t("bad_range") : "";
  if (!bad) setRange(from, to);
}

// --- sensor toggles --------------------------------------------------------------------

function saveSelection() {
  try { localStorage.setItem(STORE_KEY, JSON.stringify([...state.selected])); } catch (e) { /* private mode */ }
}

function loadSelection() {
  let ids = DEFAULT_SENSORS;
  try {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (Array.isArray(stored)) ids = stored;
  } catch (e) { /* ignore a damaged entry */ }
  return new Set(ids.filter((id) => state.byId.has(id)));
}

function groupIndex(sensor) {
  const index = GROUP_KINDS.findIndex((kinds) => kinds && kinds.includes(sensor.kind));
  return index >= 0 ? index : GROUP_KINDS.length - 1;
}

function renderToggles() {
  const box = $("toggles");
  box.replaceChildren();
  const showAll = $("showall").checked;
  const visible = state.sensors.filter((s) => s.numeric && (showAll || (!s.hidden && (s.well_known || s.key))));
  t("groups").forEach((title, index) => {
    const members = visible.filter((s) => groupIndex(s) === index);
    if (!members.length) return;
    const fieldset = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = `${title} (${members.length})`;
    fieldset.appendChild(legend);
    for (const sensor of members) {
      const label = document.createElement("label");
      label.className = "toggle";
      label.dataset.name = `${sensor.label} ${sensor.name}`.toLowerCase();
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = idOf(sensor);
      input.checked = state.selected.has(idOf(sensor));
      input.addEventListener("change", () => {
        if (input.checked) state.selected.add(idOf(sensor)); else state.selected.delete(idOf(sensor));
        saveSelection();
        loadCharts();
        loadLatest();
      });
      label.append(input, " " + sensor.label);
      label.title = `${sensor.name}${sensor.display_unit ? " (" + sensor.display_unit + ")" : ""}` +
                    (sensor.hidden ? ` – ${sensor.hidden}` : "");
      fieldset.appendChild(label);
    }
    box.appendChild(fieldset);
  });
  applyFilter();
}

function applyFilter() {
  const text = $("filter").value.trim().toLowerCase();
  document.querySelectorAll("#toggles label.toggle").forEach((label) => {
    label.hidden = text !== "" && !label.dataset.name.includes(text);
  });
}

// --- charts ----------------------------------------------------------------------------

function chartUnit(sensor) {
  if (sensor.kind === "output" || sensor.kind === "input") return t("on_off");
  return sensor.display_unit || "";
}

function withGaps(times, columns, width) {
  // A missing stretch of polls is a gap, never a line across it.
  const limit = Math.max(2 * width, 3 * state.interval);
  const xs = [], ys = columns.map(() => []);
  times.forEach((time, i) => {
    if (i && time - times[i - 1] > limit) { xs.push(times[i - 1] + width); ys.forEach((c) => c.push(null)); }
    xs.push(time);
    ys.forEach((c, k) => c.push(columns[k][i]));
  });
  return [xs, ...ys];
}

function mergeSeries(answers, width) {
  // One x axis for all series of a chart; per sensor: min, max and the drawn line.
  const times = [...new Set(answers.flatMap((a) => a.t))].sort((a, b) => a - b);
  const index = new Map(times.map((time, i) => [time, i]));
  const columns = [];
  answers.forEach((a) => {
    const min = new Array(times.length).fill(null), max = min.slice(), line = min.slice();
    const switched = a.kind === "output" || a.kind === "input";
    a.t.forEach((time, i) => {
      const at = index.get(time);
      min[at] = a.min[i]; max[at] = a.max[i]; line[at] = switched ? a.max[i] : a.mean[i];
    });
    columns.push(min, max, line);
  });
  return withGaps(times, columns, width);
}

function timeAxis() {
  // Times in the page's language (24 h in German), a date only where the day changes or
  // the ticks are days apart, and room enough that labels never run into each other.
  const lang = state.language;
  return {
    space: 70,
    values: (u, splits) => {
      const step = splits.length > 1 ? splits[1] - splits[0] : 3600;
      let previous = null;
      return splits.map((v) => {
        const d = new Date(v * 1000);
        const day = d.toLocaleDateString(lang, {day: "numeric", month: "short"});
        if (step >= 86400) return day;
        const time = d.toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit"});
        const text = day !== previous ? `${time}\n${day}` : time;
        previous = day;
        return text;
      });
    },
  };
}

function chartWidth() { return Math.max(280, $("charts").clientWidth - 4); }

function makeChart(unit, answers, container, width) {
  const series = [{}];
  const bands = [];
  answers.forEach((a, i) => {
    const color = COLORS[i % COLORS.length];
    const stepped = a.kind === "output" || a.kind === "input" || a.kind === "state";
    const paths = stepped ? uPlot.paths.stepped({align: 1}) : undefined;
    series.push({label: `${a.label} min`, stroke: color + "40", width: 0.5, paths, points: {show: false}},
                {label: `${a.label} max`, stroke: color + "40", width: 0.5, paths, points: {show: false}},
                {label: a.label, stroke: color, width: 1.5, paths, spanGaps: false});
    bands.push({series: [3 * i + 2, 3 * i + 1], fill: color + "22"});
  });
  const opts = {
    width: chartWidth(),
    height: window.innerWidth < 600 ? 220 : 300,
    title: unit || "value",
    scales: {x: {time: true, range: () => [state.from / 1000, state.to / 1000]}},
    series, bands,
    legend: {show: false},
    axes: [timeAxis(), {label: unit, size: 60}],
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
  const legend = document.createElement("div");
  legend.className = "band-legend";
  answers.forEach((a, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[i % COLORS.length];
    item.append(swatch, a.label);
    item.title = a.sensor;
    legend.appendChild(item);
  });
  container.appendChild(legend);
  const plot = new uPlot(opts, mergeSeries(answers, width), container);
  container.addEventListener("dblclick", () => {
    const span = state.to - state.from;
    setRange(new Date(state.from - span / 2), new Date(+state.to + span / 2));
  });
  return plot;
}

function makeBand(answer, width) {
  // The operating mode under the time axis: one colour per mode, grey where it changed
  // within a bucket.
  const box = $("modeband");
  box.replaceChildren();
  if (state.band) { state.band.plot.destroy(); state.band = null; }
  if (!answer || !answer.t.length) return;
  // Each bucket lasts until the next one, unless polls are missing in between (a gap).
  const limit = Math.max(2 * width, 3 * state.interval);
  const buckets = answer.t.map((time, i) => {
    const next = answer.t[i + 1];
    return {from: time, to: next !== undefined && next - time <= limit ? next : time + width,
            code: answer.min[i] === answer.max[i] ? answer.min[i] : null};
  });
  const legend = document.createElement("div");
  legend.className = "band-legend";
  const codes = [...new Set(buckets.map((b) => b.code))];
  codes.forEach((code) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = code === null ? "#7f8c8d" : (MODE_COLORS[code] || "#999");
    item.append(swatch, code === null ? t("mixed") : (answer.states || {})[code] || String(code));
    legend.appendChild(item);
  });
  const container = document.createElement("div");
  container.className = "chart band";
  box.append(container);
  const plot = new uPlot({
    width: chartWidth(), height: 60, title: answer.label,
    scales: {x: {time: true, range: () => [state.from / 1000, state.to / 1000]}, y: {range: [0, 1]}},
    series: [{}, {show: false}], legend: {show: false}, axes: [timeAxis(), {show: false}],
    cursor: {show: false},
    hooks: {draw: [(u) => {
      const ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
      for (const b of buckets) {
        const x0 = Math.floor(u.valToPos(b.from, "x", true));
        const x1 = Math.ceil(u.valToPos(b.to, "x", true));
        ctx.fillStyle = b.code === null ? "#7f8c8d" : (MODE_COLORS[b.code] || "#999");
        ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
      }
    }]},
  }, [buckets.map((b) => b.from), buckets.map(() => 0)], container);
  container.appendChild(legend);
  state.band = {plot, buckets};
}

async function loadCharts() {
  const ticket = ++state.loading;
  const ids = [...state.selected];
  const from = state.from.toISOString(), to = state.to.toISOString();
  const points = Math.min(2000, Math.max(200, Math.round(chartWidth())));
  const width = (state.to - state.from) / 1000 / points;
  const ask = (id) => getJSON(`/api/series?sensor=${encodeURIComponent(id)}&from=${encodeURIComponent(from)}` +
                              `&to=${encodeURIComponent(to)}&points=${points}&lang=${state.language}`);
  let answers, band;
  try {
    [answers, band] = await Promise.all([Promise.all(ids.map(ask)), ask("operating_mode").catch(() => null)]);
  } catch (error) {
    $("status").textContent = `Charts: ${error.message}`;
    return;
  }
  if (ticket !== state.loading) return;  // a newer request is on its way
  answers.forEach((a, i) => {
    const sensor = state.byId.get(ids[i]) || {};
    a.kind = sensor.kind; a.unit = chartUnit(sensor);
  });
  const byUnit = new Map();
  answers.forEach((answer) => {
    if (!byUnit.has(answer.unit)) byUnit.set(answer.unit, []);
    byUnit.get(answer.unit).push(answer);
  });
  state.charts.forEach((c) => c.plot.destroy());
  state.charts = [];
  const box = $("charts");
  box.replaceChildren();
  if (!answers.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = t("choose");
    box.appendChild(p);
  }
  for (const [unit, group] of byUnit) {
    const container = document.createElement("div");
    container.className = "chart";
    container.dataset.unit = unit;
    box.appendChild(container);
    state.charts.push({unit, names: group.map((a) => a.sensor), points: group[0].t.length,
                       envelope: true, plot: makeChart(unit, group, container, width)});
  }
  if (answers.length && answers.every((a) => a.t.length === 0)) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = t("no_polls");
    box.prepend(p);
  }
  makeBand(band, width);
  state.loads += 1;
  document.body.dataset.loads = String(state.loads);
}

async function loadCoverage() {
  const from = state.from.toISOString(), to = state.to.toISOString();
  const answer = await getJSON(`/api/coverage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  const box = $("coverage");
  box.replaceChildren();
  state.coverage = answer.days;
  for (const day of answer.days) {
    const cell = document.createElement("span");
    const p = day.percent;
    cell.style.background = p >= 99 ? "#2ca02c" : p >= 90 ? "#a6d96a" : p >= 50 ? "#fdae61" : p > 0 ? "#d7191c" : "#ccc";
    cell.title = `${day.date}: ${p} % ${t("coverage")} (${day.stored}/${day.due})`;
    cell.dataset.percent = String(p);
    box.appendChild(cell);
  }
}

// --- tables ----------------------------------------------------------------------------

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
}

async function loadLatest() {
  const ids = [...state.selected];
  const body = $("latest").tBodies[0];
  if (!ids.length) { body.replaceChildren(); return; }
  const latest = await getJSON(`/api/latest?sensors=${encodeURIComponent(ids.join(","))}`);
  const byName = new Map(state.sensors.map((s) => [s.name, s]));
  body.replaceChildren();
  for (const [name, [value]] of Object.entries(latest.values)) {
    const sensor = byName.get(name) || {label: name};
    const row = body.insertRow();
    cell(row, sensor.label);
    row.title = name;
    cell(row, number(value, 1, sensor.display_unit || ""), "num");
    cell(row, sensor.display_unit || "");
  }
}

function markStale(time) {
  // The newest poll is old (the heat pump does not answer, the daemon is stopped): the
  // panel says so and how old it is, instead of showing old values as if they were now.
  const age = Date.now() / 1000 - time;
  const stale = age > Math.max(3 * state.interval, 300) || state.reachable === false;
  $("glance").classList.toggle("stale", stale);
  const minutes = Math.round(age / 60);
  const ago = minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
  $("stale").textContent = stale ? t("stale")(ago) : "";
}

async function loadStatus() {
  const status = await getJSON("/api/status");
  state.interval = status.interval_s || state.interval;
  state.qualityNotes = (state.language === "de" ? status.quality_notes_de : null) || status.quality_notes || [];
  const line = $("status");
  // The daemon's status in the page's language, made of its figures (systemd's STATUS=
  // line is English).
  const since = status.down_since || status.last_success;
  line.textContent = status.reachable === false
    ? `${t("unreachable")} ${clock(since)}` + (status.failed_in_row ? `, ${status.failed_in_row} ${t("failed_polls")}` : "")
    : status.last_success ? `${t("last_poll")} ${clock(status.last_success)}, ${t("reachable")}`
    : status.status;
  line.className = status.reachable ? "ok" : "bad";
  state.reachable = status.reachable;
  if (state.glance && state.glance.time) markStale(state.glance.time);
}

const TABLE_COLUMNS = [["date", "date"], ["outdoor_mean_c", "outdoor", "°C"], ["heat_total_kwh", "heat", "kWh"],
                       ["electric_kwh", "electric", "kWh"], ["cop", "cop"], ["compressor_starts", "starts"],
                       ["compressor_hours", "hours", "h"], ["average_run_min", "run", "min"], ["defrosts", "defrosts"]];

function fillTable(table, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  TABLE_COLUMNS.forEach(([key, label, unit]) => {
    const th = document.createElement("th");
    th.textContent = unit ? `${t(label)} (${unit})` : t(label);
    if (key !== "date") th.className = "num";
    head.appendChild(th);
  });
  const body = table.createTBody();
  rows.forEach((r) => {
    const row = body.insertRow();
    if (r.partial) row.className = "partial";
    TABLE_COLUMNS.forEach(([key]) => cell(row, key === "date" ? `${r.date}${r.partial ? " (" + t("partial") + ")" : ""}` : number(r[key], 2), key === "date" ? "" : "num"));
    if (r.notes) row.title = r.notes;
  });
  if (!rows.length) { const row = body.insertRow(); cell(row, t("nothing")); }
}

async function loadSummary() {
  fillTable($("summary"), await getJSON("/api/summary?days=7"));
}

function periodChoices() {
  const now = new Date();
  const month = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
  const previous = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  const season = now.getMonth() >= 8 ? now.getFullYear() : now.getFullYear() - 1;
  return [[`month=${month(now)}`, t("this_month")], [`month=${month(previous)}`, t("last_month")],
          [`season=${season}`, t("this_season")], [`season=${season - 1}`, t("last_season")]];
}

async function loadStats() {
  const select = $("period");
  const chosen = select.value || periodChoices()[0][0];
  select.replaceChildren();
  const choices = periodChoices();
  for (const [value, label] of choices) select.add(new Option(label, value, false, value === chosen));
  if (!choices.some(([value]) => value === chosen)) select.add(new Option(chosen, chosen, false, true));
  const answer = await getJSON(`/api/stats?${chosen}&lang=${state.language}`);
  fillTable($("stats"), [...answer.rows, {...answer.total, date: "Σ"}]);
  renderPerformance(answer);
  const curve = await getJSON(`/api/heating-curve?${chosen}`);
  curveChart(curve);
  state.performanceLoads += 1;
}

const MODE_COLUMNS = [["heat_kwh", "heat_kwh"], ["elec_kwh", "elec_kwh"], ["cop", "cop"],
                      ["hours", "run_hours"], ["flow_mean_c", "flow_mean"],
                      ["outdoor_mean_c", "outdoor_mean"], ["prc_carnot", "carnot"]];

function renderPerformance(answer) {
  const list = $("observations");
  list.replaceChildren(...answer.observations.map((line) => {
    const item = document.createElement("li");
    item.textContent = line;
    return item;
  }));
  const table = $("modes");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  [["mode", "mode"], ...MODE_COLUMNS].forEach(([key, label], i) => {
    const th = document.createElement("th");
    th.textContent = t(label);
    if (i) th.className = "num";
    head.appendChild(th);
  });
  const body = table.createTBody();
  const total = answer.total;
  for (const mode of ["combined", "space", "water", "cooling"]) {
    if (!total[`${mode}_hours`] && !total[`${mode}_elec_kwh`]) continue;
    const row = body.insertRow();
    cell(row, t(mode));
    MODE_COLUMNS.forEach(([key]) => {
      const value = total[`${mode}_${key}`];
      const missing = value == null && (key === "elec_kwh" || (key === "cop" && mode !== "cooling"));
      const text = missing ? t("not_measured") : number(value, key === "cop" ? 2 : 1);
      cell(row, text, missing ? "num missing" : "num");
    });
  }
  copChart(answer.days || []);
}

function destroyPlot(name) {
  if (state[name]) { state[name].destroy(); state[name] = null; }
}

function copChart(days) {
  const box = $("cop-chart");
  destroyPlot("copPlot");
  box.replaceChildren();
  $("cop-day").textContent = "";
  const points = days.filter((d) => d.space_cop != null && d.space_outdoor_mean_c != null)
    .sort((a, b) => a.space_outdoor_mean_c - b.space_outdoor_mean_c);
  state.copPoints = points;
  if (!points.length) { box.textContent = t("no_cop"); box.classList.add("empty"); return; }
  box.classList.remove("empty");
  const months = [...new Set(points.map((d) => d.date.slice(0, 7)))].sort();
  const data = [points.map((d) => d.space_outdoor_mean_c),
                ...months.map((m) => points.map((d) => (d.date.startsWith(m) ? d.space_cop : null)))];
  const series = [{label: t("outdoor_mean")}, ...months.map((m, i) => {
    const color = COLORS[i % COLORS.length];
    return {label: m, stroke: color, paths: () => null, points: {show: true, size: 8, fill: color}};
  })];
  state.copPlot = new uPlot({
    width: chartWidth(), height: window.innerWidth < 600 ? 240 : 300, series,
    scales: {x: {time: false, range: (u, low, high) => [Math.floor(low) - 1, Math.ceil(high) + 1]},
             y: {range: (u, low, high) => [Math.max(0, Math.floor(low * 2) / 2 - 0.5), Math.ceil(high * 2) / 2 + 0.5]}},
    axes: [{label: t("outdoor_axis")}, {label: "COP", size: 50}],
    hooks: {setCursor: [(u) => {
      const i = u.cursor.idx;
      if (i != null && points[i]) $("cop-day").textContent = t("day_figures")(points[i]);
    }]},
  }, data, box);
}

function curveChart(curve) {
  const box = $("curve-chart");
  destroyPlot("curvePlot");
  box.replaceChildren();
  if (!curve.outdoor_c.length) { box.textContent = t("no_curve"); box.classList.add("empty"); return; }
  box.classList.remove("empty");
  const series = [{label: t("outdoor_mean")},
                  {label: t("flow_c"), stroke: COLORS[0], width: 2, points: {show: true, size: 5}},
                  {label: t("return_c"), stroke: COLORS[1], width: 2, points: {show: true, size: 5}},
                  {label: t("target_c"), stroke: COLORS[2], width: 1.5, dash: [6, 4], points: {show: false}}];
  state.curvePlot = new uPlot({
    width: chartWidth(), height: window.innerWidth < 600 ? 240 : 300, series,
    scales: {x: {time: false}},
    axes: [{label: t("curve_axis")}, {label: t("temperature"), size: 50}],
  }, [curve.outdoor_c, curve.flow_c, curve.return_c, curve.return_target_c], box);
}

async function loadLogs() {
  const lines = await getJSON("/api/logs");
  const table = $("logs");
  table.replaceChildren();
  lines.slice(-20).reverse().forEach((r) => {
    const row = table.insertRow();
    row.className = `level-${String(r.level).toLowerCase()}`;
    cell(row, new Date(r.time * 1000).toLocaleString(state.language));
    cell(row, r.level);
    cell(row, r.message);
  });
}

function refresh() {
  loadStatus().catch(() => {});
  loadGlance().catch((error) => { $("mode").textContent = error.message; });
  loadLatest().catch(() => {});
  loadLogs().catch(() => {});
}

async function loadSensors() {
  state.sensors = await getJSON(`/api/sensors?lang=${state.language}`);
  state.byId = new Map(state.sensors.map((s) => [idOf(s), s]));
}

async function setLanguage(language) {
  state.language = T[language] ? language : "en";
  try { localStorage.setItem(LANG_KEY, state.language); } catch (e) { /* private mode */ }
  translatePage();
  await loadSensors();
  renderToggles();
  refresh();
  loadCharts();
  loadSummary().catch(() => {});
  loadStats().catch(() => {});
}

async function loadHeatPumps() {
  // Which heat pump this page is, and links to the others luxlogd records on this host.
  const pumps = await getJSON("/api/heatpumps");
  const mine = pumps.find((p) => p.this) || {};
  $("heatpump-name").textContent = mine.name ? `· ${mine.name}` : "";
  document.title = mine.name ? `luxlogd · ${mine.name}` : "luxlogd";
  const nav = $("heatpumps");
  nav.replaceChildren(...pumps.filter((p) => !p.this && p.web_url).map((p) => {
    const link = document.createElement("a");
    link.href = p.web_url;
    link.textContent = p.name;
    link.className = p.reachable ? "ok" : "bad";
    return link;
  }));
  state.heatPumps = pumps;
}

async function start() {
  document.querySelectorAll("#range button[data-hours]").forEach((button) => {
    button.addEventListener("click", () => lastHours(Number(button.dataset.hours)));
  });
  $("from").addEventListener("change", rangeFromInputs);
  $("to").addEventListener("change", rangeFromInputs);
  $("filter").addEventListener("input", applyFilter);
  $("showall").addEventListener("change", renderToggles);
  $("language").addEventListener("change", () => setLanguage($("language").value));
  $("period").addEventListener("change", () => loadStats().catch(() => {}));
  // Every chart follows the page's width: on a resize, and whenever the main column
  // changes width (a chart made while the window was resizing is caught up too).
  let resizeTimer = null;
  const resizeAll = () => {
    const width = chartWidth();
    const plots = [...state.charts.map((c) => c.plot), state.band && state.band.plot,
                   state.copPlot, state.curvePlot].filter(Boolean);
    plots.forEach((plot) => { if (plot.width !== width) plot.setSize({width, height: plot.height}); });
  };
  const later = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(resizeAll, 100); };
  window.addEventListener("resize", later);
  if (window.ResizeObserver) new ResizeObserver(later).observe(document.querySelector("main"));
  setInterval(resizeAll, 2000);  // a chart drawn in between, at the width it was given then
  let stored = null;
  try { stored = localStorage.getItem(LANG_KEY); } catch (e) { /* private mode */ }
  const status = await getJSON("/api/status").catch(() => ({}));
  state.interval = status.interval_s || state.interval;
  state.language = new URLSearchParams(location.search).get("lang") || stored || status.language || "en";
  if (!T[state.language]) state.language = "en";
  translatePage();
  await loadSensors();
  state.selected = loadSelection();
  renderToggles();
  lastHours(await openingHours());
  loadHeatPumps().catch(() => {});
  refresh();
  loadSummary().catch(() => {});
  loadStats().catch(() => {});
  setInterval(refresh, 30000);
}

start().catch((error) => { $("status").textContent = `Cannot load: ${error.message}`; });
