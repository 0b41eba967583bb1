// Live metrics charted from the server's own /metrics (Prometheus text),
// polled every 2 s: request rate and p50/p99 latency per RPC, backend errors
// per store. Quantiles come from the histogram's bucket counts over a sliding
// window, as Prometheus' histogram_quantile() computes them.

import { getText } from "./api.js";
import { $, clear, h } from "./dom.js";
import { report } from "./main.js";

const POLL_MS = 2000;
const HISTORY = 150; // points kept (5 minutes)
const WINDOW_S = 60; // quantile window

/** Samples of a Prometheus text exposition: [{name, labels, value}]. */
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** The q-quantile of cumulative buckets [[le, count], ...] (le ascending, +Inf last). */
export function quantile(q, buckets) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe; // in the +Inf bucket: the highest finite bound
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevCount) / inBucket) : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The parts of a scrape the console charts. */
export function summarize(samples) {
  const rpcs = {};
  const stores = {};
  const rpc = (m) => (rpcs[m] ||= { requests: 0, errors: 0, buckets: {} });
  const store = (s) => (stores[s] ||= { ops: 0, errors: 0, fanout: 0 });
  for (const { name, labels, value } of samples) {
    if (name === "vectorgate_requests_total") rpc(labels.method).requests += value;
    else if (name === "vectorgate_request_errors_total") rpc(labels.method).errors += value;
    else if (name === "vectorgate_request_duration_seconds_bucket") {
      const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
      rpc(labels.method).buckets[le] = value;
    } else if (name === "vectorgate_backend_requests_total") {
      const s = store(labels.store);
      s.ops += value;
      if (labels.outcome !== "ok") s.errors += value;
    } else if (name === "vectorgate_fanout_failures_total") store(labels.store).fanout += value;
  }
  return { rpcs, stores };
}

const sortedBuckets = (b) => Object.entries(b).map(([le, c]) => [Number(le), c]).sort((x, y) => x[0] - y[0]);

function deltaBuckets(now, then) {
  return sortedBuckets(now).map(([le, c]) => [le, c - ((then && then[le]) || 0)]);
}

// ------------------------------------------------------------------ state

let timer = null;
let paused = false;
const history = []; // [{t, summary}]
const charts = {};
const PALETTE = ["#0b5cad", "#d1495b", "#2a9d8f", "#e9c46a", "#8e44ad", "#f4a261", "#264653", "#6c757d"];

function seriesChart(id, names, rows, unit) {
  const el = $(id);
  const key = names.join("\u0000");
  const data = [rows.map((r) => r.t), ...names.map((n) => rows.map((r) => r.values[n] ?? null))];
  if (typeof window.uPlot !== "function") return;
  if (!charts[id] || charts[id].key !== key) {
    if (charts[id]) charts[id].plot.destroy();
    clear(el);
    const opts = {
      width: Math.max(320, el.clientWidth - 8),
      height: 220,
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))],
      axes: [{}, { label: unit, size: 60 }],
      scales: {
        // The last HISTORY polls, even before they exist; y from 0.
        x: { time: true, range: (u, min, max) => [max - (HISTORY * POLL_MS) / 1000, max] },
        y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)] },
      },
    };
    charts[id] = { key, plot: new window.uPlot(opts, data, el) };
  } else {
    charts[id].plot.setData(data);
  }
}

function render() {
  const last = history[history.length - 1];
  if (!last) return;
  const windowStart = history.find((p) => last.t - p.t <= WINDOW_S) || history[0];
  const prev = history.length > 1 ? history[history.length - 2] : null;

  // Table: per RPC.
  const rows = clear($("rpc-rows"));
  // RPCs served at least once (the exposition lists every RPC from the start).
  const methods = Object.keys(last.summary.rpcs).filter((m) => last.summary.rpcs[m].requests > 0).sort();
  for (const m of methods) {
    const r = last.summary.rpcs[m];
    const then = windowStart !== last ? windowStart.summary.rpcs[m] : null;
    let buckets = deltaBuckets(r.buckets, then && then.buckets);
    if (!buckets.length || !(buckets[buckets.length - 1][1] > 0)) buckets = sortedBuckets(r.buckets);
    const p50 = quantile(0.5, buckets);
    const p99 = quantile(0.99, buckets);
    const pr = prev && prev.summary.rpcs[m];
    const rate = pr ? (r.requests - pr.requests) / Math.max(1e-9, last.t - prev.t) : 0;
    rows.append(h("tr", {},
      h("td", {}, m),
      h("td", { class: "num" }, r.requests),
      h("td", { class: "num" }, r.errors),
      h("td", { class: "num" }, rate.toFixed(2)),
      h("td", { class: "num" }, p50 === null ? "—" : (p50 * 1000).toFixed(1)),
      h("td", { class: "num" }, p99 === null ? "—" : (p99 * 1000).toFixed(1))));
  }
  if (!methods.length) rows.append(h("tr", {}, h("td", { colspan: 6 }, "No RPC served yet.")));

  const srows = clear($("store-rows"));
  const stores = Object.keys(last.summary.stores).sort();
  for (const s of stores) {
    const v = last.summary.stores[s];
    srows.append(h("tr", {}, h("td", {}, s), h("td", { class: "num" }, v.ops), h("td", { class: "num" }, v.errors),
      h("td", { class: "num" }, v.fanout)));
  }

  // Charts: rate and p99 per interval, errors per store.
  const points = [];
  for (let i = 1; i < history.length; i += 1) {
    const a = history[i - 1];
    const b = history[i];
    const dt = Math.max(1e-9, b.t - a.t);
    const rate = {};
    const p99 = {};
    const errors = {};
    for (const m of methods) {
      const now = b.summary.rpcs[m];
      const before = a.summary.rpcs[m];
      if (!now) continue;
      rate[m] = (now.requests - (before ? before.requests : 0)) / dt;
      const q = quantile(0.99, deltaBuckets(now.buckets, before && before.buckets));
      p99[m] = q === null ? null : q * 1000;
    }
    for (const s of stores) {
      const now = b.summary.stores[s];
      const before = a.summary.stores[s];
      if (now) errors[s] = (now.errors + now.fanout - (before ? before.errors + before.fanout : 0)) / dt;
    }
    points.push({ t: b.t, rate, p99, errors });
  }
  seriesChart("chart-rate", methods, points.map((p) => ({ t: p.t, values: p.rate })), "req/s");
  seriesChart("chart-p99", methods, points.map((p) => ({ t: p.t, values: p.p99 })), "ms");
  seriesChart("chart-errors", stores, points.map((p) => ({ t: p.t, values: p.errors })), "errors/s");
  $("metrics-status").textContent = `updated ${new Date(last.t * 1000).toLocaleTimeString()}`;
}

async function poll() {
  try {
    const summary = summarize(parsePrometheus(await getText("/metrics")));
    history.push({ t: Date.now() / 1000, summary });
    if (history.length > HISTORY) history.shift();
    render();
  } catch (err) {
    report(err);
  }
}

function start() {
  if (timer || paused) return;
  poll();
  timer = setInterval(poll, POLL_MS);
}

function stop() {
  clearInterval(timer);
  timer = null;
}

export function init() {
  $("metrics-toggle").addEventListener("click", () => {
    paused = !paused;
    $("metrics-toggle").textContent = paused ? "Resume" : "Pause";
    $("metrics-toggle").setAttribute("aria-pressed", String(paused));
    if (paused) stop(); else start();
  });
}

export async function show() { start(); }

export function hide() { stop(); }
