// The TypeScript client in Node against a real weft serve, over Connect,
// gRPC and gRPC-web.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Code, ConnectError, connectNode } from "../dist/node.js";
import { keyFile, startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

function rng(seed) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
}

for (const protocol of ["connect", "grpc", "grpc-web"]) {
  test(`upsert, query with a filter, get, delete over ${protocol}`, async () => {
    const weft = connectNode(server.addr, { protocol });
    const name = "ts-" + protocol.replace("-", "");
    await weft.createNamespace(name, { dimension: 8, metric: "l2", schema: { lang: "string" } });
    const ns = weft.namespace(name);
    const r = rng(protocol.length);
    const docs = [];
    for (let i = 0; i < 10_000; i++) {
      const v = new Float32Array(8);
      for (let j = 0; j < 8; j++) v[j] = r();
      docs.push({ id: `d${i}`, vector: v, attributes: { lang: ["en", "de"][i % 2], n: i, w: { float: i / 4 }, tags: ["a", String(i % 3)], even: i % 2 === 0 } });
    }
    const ids = await ns.upsert(docs); // one request of 10,000
    assert.equal(ids.length, 10_000);
    assert.equal((await weft.getNamespace(name)).stats.documentCount, 10_000n);

    const q = docs[5].vector;
    const answer = await ns.query(q, { topK: 5, recallTarget: 1, includeAttributes: true, filter: { eq: { attribute: "lang", value: { stringValue: "de" } } } });
    // Brute force in float64 over the documents the filter keeps.
    const want = docs
      .filter((_, i) => i % 2 === 1)
      .map((d) => ({ id: d.id, dist: Math.sqrt(d.vector.reduce((s, x, j) => s + (x - q[j]) ** 2, 0)) }))
      .sort((a, b) => a.dist - b.dist)
      .slice(0, 5);
    assert.deepEqual(answer.results.map((x) => x.id), want.map((x) => x.id));
    answer.results.forEach((x, i) => assert.ok(Math.abs(x.distance - want[i].dist) < 1e-4));
    assert.equal(answer.results[0].attributes.lang, "de");
    assert.equal(answer.results[0].attributes.n, 5n);
    assert.deepEqual(answer.results[0].attributes.tags, ["a", "2"]);
    assert.ok(answer.stats.documentsScanned > 0n);

    const got = await ns.get(["d3", "nope"], { includeVectors: true });
    assert.deepEqual(got.map((d) => d.id), ["d3"]);
    assert.deepEqual(got[0].vector, docs[3].vector);
    assert.equal(await ns.delete({ ids: ["d0", "d1"] }), 2);
    assert.equal(await ns.delete({ filter: { eq: { attribute: "lang", value: { stringValue: "en" } } } }), 4_999);
  });
}

test("errors carry the Connect code and the server's message", async () => {
  const weft = connectNode(server.addr);
  await assert.rejects(weft.namespace("missing").query([1, 2]), (e) => e instanceof ConnectError && e.code === Code.NotFound);
  await weft.createNamespace("bad", { dimension: 4 });
  await assert.rejects(
    weft.namespace("bad").upsert([{ id: "a", vector: [1, 2] }]),
    (e) => ConnectError.from(e).code === Code.InvalidArgument && /dimension/.test(ConnectError.from(e).rawMessage),
  );
  await assert.rejects(connectNode("http://127.0.0.1:9", { retries: 1, timeoutMs: 2000 }).listNamespaces(), (e) => ConnectError.from(e).code === Code.Unavailable);
});

test("API keys", async () => {
  const key = "ts-client-test-bootstrap-key";
  const s = await startServer("--auth.bootstrap-key-file", keyFile(key));
  try {
    await assert.rejects(connectNode(s.addr).listNamespaces(), (e) => ConnectError.from(e).code === Code.Unauthenticated);
    const weft = connectNode(s.addr, { apiKey: key });
    await weft.createNamespace("k", { dimension: 2, metric: "l2" });
    await weft.namespace("k").upsert([{ id: "a", vector: new Float32Array([1, 2]) }]);
    assert.deepEqual((await weft.namespace("k").query([1, 2], { topK: 1 })).results.map((r) => r.id), ["a"]);
  } finally {
    s.stop();
  }
});
