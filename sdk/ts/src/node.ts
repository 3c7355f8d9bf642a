// Node transports: Connect (default) and gRPC-web over HTTP/1.1, gRPC
// over HTTP/2 (h2c on a plain http:// URL).
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

import { apiKey, Weft, type WeftOptions } from "./index.js";

export * from "./index.js";

/** A client for Node. */
export function connectNode(baseUrl: string, opts: WeftOptions & { protocol?: "connect" | "grpc" | "grpc-web" } = {}): Weft {
  const interceptors = opts.apiKey ? [apiKey(opts.apiKey)] : [];
  switch (opts.protocol ?? "connect") {
    case "grpc":
      return new Weft(createGrpcTransport({ baseUrl, interceptors }), opts);
    case "grpc-web":
      return new Weft(createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }), opts);
  }
  return new Weft(createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors, useBinaryFormat: true }), opts);
}
