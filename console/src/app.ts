// The console's page script: the TypeScript client over Connect to this
// page's origin. Everything shown is set as text (textContent), never as
// markup: ids and attributes are user data.
import { Code, connectWeb, ConnectError, type Weft } from "../../sdk/ts/src/index.js";
import { Hook, FailurePolicy } from "../../sdk/ts/src/gen/weft/v1/plugin_pb.js";
import { CacheTemperature } from "../../sdk/ts/src/gen/weft/v1/query_pb.js";
import { AttributeType, Metric } from "../../sdk/ts/src/gen/weft/v1/types_pb.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let weft: Weft = client();
let selected = "";

function client(): Weft {
  const key = sessionStorage.getItem("weft-api-key") ?? "";
  const c = connectWeb(location.origin, { apiKey: key || undefined, timeoutMs: 15_000 });
  // The page's client, for the browser's developer console (and tests).
  (window as unknown as { weft: Weft }).weft = c;
  return c;
}

function status(text: string) {
  $("status").textContent = text;
}

function cell(row: HTMLTableRowElement, text: string) {
  row.insertCell().textContent = text;
}

function message(e: unknown): string {
  const c = ConnectError.from(e);
  return `${Code[c.code]}: ${c.rawMessage}`;
}

async function loadNamespaces() {
  const body = $<HTMLTableElement>("namespaces").tBodies[0];
  try {
    const list = await weft.listNamespaces();
    body.replaceChildren();
    for (const ns of list) {
      const stats = (await weft.getNamespace(ns.name)).stats;
      const row = body.insertRow();
      row.dataset.name = ns.name;
      cell(row, ns.name);
      cell(row, String(ns.dimension));
      cell(row, Metric[ns.metric].toLowerCase());
      cell(row, String(stats?.documentCount ?? 0n));
      cell(row, String(stats?.segments ?? 0));
      cell(row, String(stats?.unindexedDocuments ?? 0n));
      row.classList.toggle("selected", ns.name === selected);
      row.addEventListener("click", () => select(ns.name));
    }
    if (!selected && list.length > 0) select(list[0].name);
    status(`${list.length} namespaces`);
  } catch (e) {
    status(message(e));
  }
}

async function select(name: string) {
  selected = name;
  $("selected").textContent = `in ${name}`;
  for (const row of Array.from($<HTMLTableElement>("namespaces").tBodies[0].rows)) row.classList.toggle("selected", row.dataset.name === name);
  const { namespace } = await weft.getNamespace(name);
  const schema = $("schema");
  schema.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = `Schema of ${name}`;
  schema.append(h);
  const ul = document.createElement("ul");
  for (const a of namespace?.schema ?? []) {
    const li = document.createElement("li");
    li.textContent = `${a.name}: ${AttributeType[a.type].toLowerCase()}`;
    ul.append(li);
  }
  if (namespace?.shardKey) {
    const li = document.createElement("li");
    li.textContent = `shard key: ${namespace.shardKey}`;
    ul.append(li);
  }
  for (const p of namespace?.defaultPlugins ?? []) {
    const li = document.createElement("li");
    li.textContent = `default plugin: ${p.name}`;
    ul.append(li);
  }
  if (ul.childElementCount === 0) ul.textContent = "no declared attributes";
  schema.append(ul);
}

async function runQuery(ev: Event) {
  ev.preventDefault();
  const err = $("query-error");
  err.textContent = "";
  if (!selected) {
    err.textContent = "pick a namespace first";
    return;
  }
  try {
    const ns = weft.namespace(selected);
    const mode = (document.querySelector('input[name="mode"]:checked') as HTMLInputElement).value;
    let vector: number[];
    if (mode === "id") {
      const id = $<HTMLInputElement>("doc-id").value.trim();
      const docs = await ns.get([id], { includeVectors: true, includeAttributes: false });
      if (docs.length === 0) throw new Error(`no document ${JSON.stringify(id)} in ${selected}`);
      vector = Array.from(docs[0].vector!);
    } else {
      vector = JSON.parse($<HTMLTextAreaElement>("vector").value);
    }
    const filterText = $<HTMLTextAreaElement>("filter").value.trim();
    const answer = await ns.query(vector, {
      topK: Number($<HTMLInputElement>("top-k").value) || 10,
      includeAttributes: true,
      filter: filterText ? JSON.parse(filterText) : undefined,
      consistency: $<HTMLSelectElement>("consistency").value as "strong" | "eventual",
    });
    const body = $<HTMLTableElement>("results").tBodies[0];
    body.replaceChildren();
    answer.results.forEach((r, i) => {
      const row = body.insertRow();
      row.dataset.distance = String(r.distance); // exact, for tools and tests
      cell(row, String(i + 1));
      cell(row, r.id);
      cell(row, r.distance.toPrecision(6));
      cell(row, JSON.stringify(r.attributes, (_, v) => (typeof v === "bigint" ? Number(v) : v)));
    });
    const timings = (answer.stats?.timings ?? []).map((t) => ({
      stage: t.stage,
      us: Number(t.duration?.seconds ?? 0n) * 1e6 + (t.duration?.nanos ?? 0) / 1e3,
    }));
    bars($("timings"), timings.map((t) => ({ label: t.stage, value: t.us, text: `${t.us.toFixed(0)} µs` })));
    const s = answer.stats;
    $("stats").textContent = s
      ? `documents scanned ${s.documentsScanned}, shards probed ${s.shardsProbed}, failed ${s.shardsFailed}, ` +
        `temperature ${CacheTemperature[s.cacheTemperature].toLowerCase()}, bucket requests ${s.bucketRequests}, workers ${s.workers}, WAL ${s.walSequence}`
      : "";
  } catch (e) {
    err.textContent = e instanceof SyntaxError ? `not JSON: ${e.message}` : message(e);
  }
}

function bars(el: HTMLElement, items: { label: string; value: number; text: string }[]) {
  const most = Math.max(1, ...items.map((i) => i.value));
  el.replaceChildren();
  for (const i of items) {
    const bar = document.createElement("div");
    bar.className = "bar";
    const label = document.createElement("span");
    label.textContent = i.label;
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * i.value) / most}%`;
    const text = document.createElement("span");
    text.textContent = i.text;
    bar.append(label, fill, text);
    el.append(bar);
  }
}

async function loadPlugins() {
  const body = $<HTMLTableElement>("plugins").tBodies[0];
  try {
    const resp = await weft.plugins.listPlugins({});
    body.replaceChildren();
    for (const p of resp.plugins) {
      const row = body.insertRow();
      cell(row, p.name);
      cell(row, p.hooks.map((h) => Hook[h].toLowerCase()).join(", "));
      cell(row, FailurePolicy[p.failurePolicy].toLowerCase().replace("_", " "));
      cell(row, `${p.deadlineMs} ms`);
    }
  } catch (e) {
    body.replaceChildren();
    cell(body.insertRow(), message(e));
  }
}

// Live: the query latency histogram and QPS from /metrics.
const queryProc = 'procedure="/weft.v1.QueryService/Query"';
let lastCount = -1;
let lastAt = 0;
const qps: number[] = [];

async function loadMetrics() {
  try {
    const text = await (await fetch("/metrics")).text();
    const buckets: { le: string; n: number }[] = [];
    let count = 0;
    for (const line of text.split("\n")) {
      if (!line.includes(queryProc)) continue;
      const m = line.match(/^weft_request_duration_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$/);
      if (m) buckets.push({ le: m[1], n: Number(m[2]) });
      const c = line.match(/^weft_request_duration_seconds_count\{.*\} (\S+)$/);
      if (c) count = Number(c[1]);
    }
    const items = buckets.map((b, i) => ({
      label: b.le === "+Inf" ? "slower" : `≤ ${(Number(b.le) * 1e3).toPrecision(2)} ms`,
      value: b.n - (i > 0 ? buckets[i - 1].n : 0),
      text: String(b.n - (i > 0 ? buckets[i - 1].n : 0)),
    })).filter((b) => b.value > 0);
    bars($("histogram"), items);
    const now = performance.now();
    if (lastCount >= 0) {
      qps.push(((count - lastCount) * 1000) / (now - lastAt));
      if (qps.length > 60) qps.shift();
    }
    lastCount = count;
    lastAt = now;
    const most = Math.max(1, ...qps);
    $("qps").querySelector("polyline")!.setAttribute("points", qps.map((v, i) => `${(i * 300) / 59},${80 - (v * 76) / most}`).join(" "));
    $("qps-now").textContent = qps.length ? `${qps[qps.length - 1].toFixed(1)} queries/s` : "";
  } catch {
    // /metrics may need a key (--auth.metrics): the rest works without it.
  }
}

$<HTMLInputElement>("api-key").value = sessionStorage.getItem("weft-api-key") ?? "";
$<HTMLInputElement>("api-key").addEventListener("change", (e) => {
  sessionStorage.setItem("weft-api-key", (e.target as HTMLInputElement).value);
  weft = client();
  void loadNamespaces();
  void loadPlugins();
});
$("query-form").addEventListener("submit", runQuery);
void loadNamespaces();
void loadPlugins();
void loadMetrics();
setInterval(loadMetrics, 2000);
setInterval(loadNamespaces, 10000);
