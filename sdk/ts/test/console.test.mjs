// The web console (/console) in headless Chromium (Debian's chromium,
// driven by playwright-core) against a real weft serve: the namespaces
// load, a query run by clicking shows the brute-force nearest documents
// with their attributes, as text (an attribute holding markup stays text),
// the per-stage timings are drawn, "nearest to document id" finds the
// document itself first, the browser's answers equal the Node client's to
// the bit, and a screenshot of the playground is written
// ($WEFT_CONSOLE_SCREENSHOT, or the test's temporary folder).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { connectNode } from "../dist/node.js";
import { startServer } from "./server.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test("the console shows namespaces and runs a query by clicking", async () => {
  const weft = connectNode(server.addr);
  await weft.createNamespace("shop", { dimension: 4, metric: "l2", schema: { title: "string" } });
  const docs = [];
  for (let i = 0; i < 50; i++) {
    docs.push({ id: `item-${i}`, vector: [i, i % 7, (i * 3) % 11, 1], attributes: { title: i === 3 ? '<img src=x onerror="window.pwned=1">' : `item ${i}`, price: i * 2 } });
  }
  await weft.namespace("shop").upsert(docs);
  const wasm = readFileSync(new URL("../../../examples/plugins/attrfilter/go/attrfilter.wasm", import.meta.url));
  await weft.plugins.registerPlugin({ name: "attrfilter", wasm, deadlineMs: 100, description: "keeps documents by an attribute" });

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(server.addr + "/console/");
  await page.locator("#namespaces tbody tr", { hasText: "shop" }).click();
  await page.locator("#selected", { hasText: "shop" }).waitFor();
  const q = [3, 3, 9, 1];
  await page.fill("#vector", JSON.stringify(q));
  await page.click("#run-query");
  await page.locator("#results tbody tr").first().waitFor();
  const rows = await page.$$eval("#results tbody tr", (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
  const want = docs
    .map((d) => ({ id: d.id, dist: Math.hypot(...d.vector.map((x, j) => x - q[j])) }))
    .sort((a, b) => a.dist - b.dist || (a.id < b.id ? -1 : 1))
    .slice(0, 10);
  assert.deepEqual(rows.map((r) => r[1]), want.map((w) => w.id));
  rows.forEach((r, i) => assert.ok(Math.abs(Number(r[2]) - want[i].dist) < 1e-4, `row ${i}: ${r[2]} vs ${want[i].dist}`));
  // The browser's client got what the Node client gets (which the
  // cross-client test holds to the Go SDK's): the same ids, the same float32.
  const inNode = await weft.namespace("shop").query(q, { topK: 10, includeAttributes: true });
  const exact = await page.$$eval("#results tbody tr", (trs) => trs.map((tr) => tr.dataset.distance));
  assert.deepEqual(exact, inNode.results.map((r) => String(r.distance)));
  assert.deepEqual(rows.map((r) => r[1]), inNode.results.map((r) => r.id));
  // Attributes are shown as text: the markup in item-3's title is not a tag.
  const item3 = rows.find((r) => r[1] === "item-3");
  assert.ok(item3[3].includes('<img src=x onerror=\\"window.pwned=1\\">'), item3[3]);
  assert.equal(await page.locator("#results img").count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.ok((await page.locator("#timings .bar").count()) >= 3, "the per-stage timings are drawn");
  const plugin = await page.$eval("#plugins tbody tr", (tr) => Array.from(tr.cells).map((c) => c.textContent));
  assert.equal(plugin[0], "attrfilter");
  assert.match(plugin[1], /filter/);
  // The live panel reads /metrics every 2 s: the queries so far show up.
  await page.locator("#histogram .bar").first().waitFor();

  await page.locator("#schema li", { hasText: "title: string" }).waitFor();
  const shot = join(process.env.WEFT_CONSOLE_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), "weft-console-")), "console-query.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);

  // Nearest to a document by id: the document itself comes first.
  await page.check('input[name="mode"][value="id"]');
  await page.fill("#doc-id", "item-42");
  await page.click("#run-query");
  await page.locator("#results tbody tr td:nth-child(2)", { hasText: /^item-42$/ }).first().waitFor();
  const first = await page.$eval("#results tbody tr", (tr) => [tr.cells[1].textContent, tr.cells[2].textContent]);
  assert.deepEqual(first, ["item-42", "0.00000"]);
  // A mistake is shown with its Connect code.
  await page.fill("#doc-id", "no-such-item");
  await page.click("#run-query");
  await page.locator("#query-error", { hasText: "no document" }).waitFor();
  assert.deepEqual(errors, []);
});

// The TypeScript client in the browser (the console's, window.weft, over
// Connect with fetch) creates a namespace, upserts 10,000 documents in one
// request and runs queries with a filter and a plugin; the Node client's
// answers to the same requests have the same ids and the same float32
// distances (and the Node client's equal the Go SDK's: cmd/weft
// TestTypeScriptClientMatchesGo).
test("the client in the browser answers as the Node client does", async () => {
  const own = await startServer(); // a plugin registry of its own
  after(() => own.stop());
  const page = await browser.newPage();
  await page.goto(own.addr + "/console/");
  await page.waitForFunction(() => window.weft !== undefined);
  const queries = [];
  for (let i = 0; i < 10; i++) queries.push(Array.from({ length: 16 }, (_, j) => Math.sin(i * 16 + j)));
  const wasm = readFileSync(new URL("../../../examples/plugins/attrfilter/go/attrfilter.wasm", import.meta.url));
  await connectNode(own.addr).plugins.registerPlugin({ name: "attrfilter", wasm, deadlineMs: 100 });
  const request = { topK: 10, recallTarget: 1, filter: { eq: { attribute: "lang", value: { stringValue: "de" } } }, plugins: [{ name: "attrfilter", params: { attr: "n", min: "1000" } }] };
  const inBrowser = await page.evaluate(async ({ queries, request }) => {
    const w = window.weft;
    await w.createNamespace("browser", { dimension: 16, metric: "l2" });
    const docs = [];
    for (let i = 0; i < 10_000; i++) {
      docs.push({ id: `d${i}`, vector: Float32Array.from({ length: 16 }, (_, j) => Math.cos(i * 16 + j)), attributes: { lang: ["en", "de", "fr"][i % 3], n: i } });
    }
    await w.namespace("browser").upsert(docs);
    const out = [];
    for (const q of queries) {
      const a = await w.namespace("browser").query(q, request);
      out.push(a.results.map((r) => [r.id, r.distance]));
    }
    return out;
  }, { queries, request });
  const weft = connectNode(own.addr);
  for (const [i, q] of queries.entries()) {
    const a = await weft.namespace("browser").query(q, request);
    assert.equal(a.results.length, 10);
    assert.deepEqual(inBrowser[i], a.results.map((r) => [r.id, r.distance]), `query ${i}`);
  }
});
