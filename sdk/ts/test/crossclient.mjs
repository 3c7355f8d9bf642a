// The TypeScript half of the cross-client test (cmd/weft
// TestTypeScriptClientMatchesGo), as sdk/python/tests/crossclient.py:
// node crossclient.mjs ADDR NAMESPACE VECTORS.npy ATTRS.json QUERIES.npy PLUGIN
import { readFileSync } from "node:fs";

import { connectNode } from "../dist/node.js";

// readNPY reads a float32 NumPy array of rows.
function readNPY(path) {
  const b = readFileSync(path);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString("latin1");
  const [rows, cols] = header.match(/'shape': \((\d+), (\d+)\)/).slice(1).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + 10 + hlen + rows * cols * 4));
  return Array.from({ length: rows }, (_, i) => data.subarray(i * cols, (i + 1) * cols));
}

const [addr, name, vectorsPath, attrsPath, queriesPath, plugin] = process.argv.slice(2);
const vectors = readNPY(vectorsPath);
const attrs = JSON.parse(readFileSync(attrsPath, "utf8"));
const weft = connectNode(addr);
await weft.createNamespace(name, { dimension: vectors[0].length, metric: "l2" });
const ns = weft.namespace(name);
await ns.upsert(vectors.map((v, i) => ({ id: `d${i}`, vector: v, attributes: attrs[i] })));
const bits = new Uint32Array(1);
const f32 = new Float32Array(bits.buffer);
for (const q of readNPY(queriesPath)) {
  const answer = await ns.query(q, {
    topK: 10,
    recallTarget: 1,
    filter: { eq: { attribute: "lang", value: { stringValue: "de" } } },
    plugins: [{ name: plugin, params: { attr: "n", min: "1000" } }],
  });
  console.log(JSON.stringify({ ids: answer.results.map((r) => r.id), bits: answer.results.map((r) => ((f32[0] = r.distance), bits[0])) }));
}
