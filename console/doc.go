// Package console serves Weft's web console at /console: the namespaces
// with their stats and schema, a query playground (a vector, or the
// nearest documents to one by id) with the answer's per-stage timings, the
// plugins and their hooks, and a live latency histogram and QPS plot read
// from /metrics. It is static files embedded in the binary: web/index.html
// and web/style.css, and web/app.js, bundled by esbuild from src/app.ts
// and the TypeScript client (make console; make test-ts checks the bundle
// is current). It calls the API from the browser like any client, with the
// API key the user types (kept in the tab's sessionStorage).
package console
