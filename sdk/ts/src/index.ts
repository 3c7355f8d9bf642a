// @weftdb/client: Weft's TypeScript client, a thin layer over the
// generated weft.v1 services and @connectrpc/connect. It runs in browsers
// (connectWeb: Connect or gRPC-web over fetch) and in Node (./node:
// Connect, gRPC or gRPC-web over node:http).
import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";

import { DocumentService } from "./gen/weft/v1/document_pb.js";
import { NamespaceService, NamespaceSchema, type GetNamespaceResponse, type Namespace } from "./gen/weft/v1/namespace_pb.js";
import { PluginService } from "./gen/weft/v1/plugin_pb.js";
import { Consistency, QueryService, type QueryStats } from "./gen/weft/v1/query_pb.js";
import {
  AttributeType,
  FilterSchema,
  Metric,
  type AttributeValue,
  type Document as PbDocument,
} from "./gen/weft/v1/types_pb.js";

export { Code, ConnectError } from "@connectrpc/connect";
export * as pb from "./pb.js";

/** An attribute value: strings, integers (int64: number or bigint), floats, booleans, lists of strings. */
export type Attribute = string | number | bigint | boolean | string[] | { float: number };

/** A document to upsert. */
export interface DocumentInput {
  /** Empty or absent: the server makes one (a UUIDv7). */
  id?: string;
  vector: Float32Array | number[];
  attributes?: Record<string, Attribute>;
}

/** One query result, nearest first. */
export interface Result {
  id: string;
  distance: number;
  score: number;
  attributes: Record<string, Attribute>;
  vector?: Float32Array;
}

export interface QueryOptions {
  topK?: number;
  /** A weft.v1.Filter in protobuf JSON, e.g. {eq: {attribute: "lang", value: {stringValue: "en"}}}. */
  filter?: JsonObject;
  includeAttributes?: boolean;
  includeVectors?: boolean;
  consistency?: "strong" | "eventual";
  ef?: number;
  nprobe?: number;
  recallTarget?: number;
  refine?: number;
  /** Plugin names, or {name, params}. */
  plugins?: (string | { name: string; params?: Record<string, string> })[];
  allowPartial?: boolean;
}

export interface WeftOptions {
  /** Sent as "Authorization: Bearer <key>" (weft keys create makes keys). */
  apiKey?: string;
  /** Bounds each call (default 30 s). */
  timeoutMs?: number;
  /** Times a call that changes nothing is sent again after Unavailable (default 2). */
  retries?: number;
}

/** A Weft server reached over transport. */
export class Weft {
  readonly namespaces: Client<typeof NamespaceService>;
  readonly documents: Client<typeof DocumentService>;
  readonly queries: Client<typeof QueryService>;
  readonly plugins: Client<typeof PluginService>;
  private readonly timeoutMs: number;
  private readonly retries: number;

  constructor(transport: Transport, opts: WeftOptions = {}) {
    this.namespaces = createClient(NamespaceService, transport);
    this.documents = createClient(DocumentService, transport);
    this.queries = createClient(QueryService, transport);
    this.plugins = createClient(PluginService, transport);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 2;
  }

  /** Call options of one call. */
  options(): CallOptions {
    return { timeoutMs: this.timeoutMs };
  }

  /** Runs an idempotent call, again after Unavailable. */
  async idempotent<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        if (attempt >= this.retries || ConnectError.from(e).code !== Code.Unavailable) {
          throw e;
        }
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
  }

  async createNamespace(
    name: string,
    opts: { dimension: number; metric?: "cosine" | "l2" | "dot"; schema?: Record<string, "string" | "int" | "float" | "bool" | "string_list">; shardKey?: string },
  ): Promise<Namespace> {
    const ns = create(NamespaceSchema, {
      name,
      dimension: opts.dimension,
      metric: metricOf(opts.metric ?? "cosine"),
      shardKey: opts.shardKey ?? "",
      schema: Object.entries(opts.schema ?? {}).map(([n, t]) => ({ name: n, type: attributeTypeOf(t) })),
    });
    const resp = await this.namespaces.createNamespace({ namespace: ns }, this.options());
    return resp.namespace!;
  }

  getNamespace(name: string): Promise<GetNamespaceResponse> {
    return this.idempotent(() => this.namespaces.getNamespace({ name }, this.options()));
  }

  async listNamespaces(): Promise<Namespace[]> {
    const out: Namespace[] = [];
    for (let token = ""; ; ) {
      const resp = await this.idempotent(() => this.namespaces.listNamespaces({ pageToken: token }, this.options()));
      out.push(...resp.namespaces);
      token = resp.nextPageToken;
      if (!token) return out;
    }
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.namespaces.deleteNamespace({ name }, this.options());
  }

  namespace(name: string): WeftNamespace {
    return new WeftNamespace(this, name);
  }
}

/** The documents and queries of one namespace. */
export class WeftNamespace {
  constructor(
    readonly weft: Weft,
    readonly name: string,
  ) {}

  /** Inserts or replaces 1..10,000 documents; returns their ids. */
  async upsert(docs: DocumentInput[]): Promise<string[]> {
    const documents = docs.map((d) => ({ id: d.id ?? "", vector: toArray(d.vector), attributes: toAttributes(d.attributes) })) as PbDocument[];
    const resp = await this.weft.documents.upsert({ namespace: this.name, documents }, this.weft.options());
    return resp.ids;
  }

  /** The topK (default 10) documents nearest vector. */
  async query(vector: Float32Array | number[], opts: QueryOptions = {}): Promise<{ results: Result[]; stats?: QueryStats }> {
    const search = opts.ef || opts.nprobe || opts.recallTarget || opts.refine
      ? { ef: opts.ef ?? 0, nprobe: opts.nprobe ?? 0, recallTarget: opts.recallTarget ?? 0, refine: opts.refine ?? 0 }
      : undefined;
    const req = {
      namespace: this.name,
      vector: toArray(vector),
      topK: opts.topK ?? 10,
      filter: opts.filter ? fromJson(FilterSchema, opts.filter) : undefined,
      includeAttributes: opts.includeAttributes ?? false,
      includeVectors: opts.includeVectors ?? false,
      consistency: opts.consistency === "eventual" ? Consistency.EVENTUAL : Consistency.STRONG,
      search,
      plugins: (opts.plugins ?? []).map((p) => (typeof p === "string" ? { name: p, params: {} } : { name: p.name, params: p.params ?? {} })),
      allowPartial: opts.allowPartial ?? false,
    };
    const resp = await this.weft.idempotent(() => this.weft.queries.query(req, this.weft.options()));
    return {
      results: resp.results.map((r) => ({
        id: r.id,
        distance: r.distance,
        score: r.score,
        attributes: fromAttributes(r.attributes),
        vector: opts.includeVectors ? Float32Array.from(r.vector) : undefined,
      })),
      stats: resp.stats,
    };
  }

  /** The documents with these ids that exist, in the order asked. */
  async get(ids: string[], opts: { includeVectors?: boolean; includeAttributes?: boolean } = {}): Promise<Result[]> {
    const resp = await this.weft.idempotent(() =>
      this.weft.documents.get(
        { namespace: this.name, ids, includeVectors: opts.includeVectors ?? false, includeAttributes: opts.includeAttributes ?? true },
        this.weft.options(),
      ),
    );
    return resp.documents.map((d) => ({
      id: d.id,
      distance: 0,
      score: 0,
      attributes: fromAttributes(d.attributes),
      vector: opts.includeVectors ? Float32Array.from(d.vector) : undefined,
    }));
  }

  /** Deletes by ids or by a filter (protobuf JSON); returns how many. */
  async delete(what: { ids: string[] } | { filter: JsonObject }): Promise<number> {
    const req = "ids" in what ? { namespace: this.name, ids: what.ids } : { namespace: this.name, filter: fromJson(FilterSchema, what.filter) };
    const resp = await this.weft.documents.delete(req, this.weft.options());
    return Number(resp.deletedCount);
  }
}

/** An interceptor that sends the API key. */
export function apiKey(key: string): Interceptor {
  return (next) => (req) => {
    req.header.set("Authorization", "Bearer " + key);
    return next(req);
  };
}

/** A client for browsers: Connect (default) or gRPC-web over fetch. */
export function connectWeb(baseUrl: string, opts: WeftOptions & { protocol?: "connect" | "grpc-web" } = {}): Weft {
  const interceptors = opts.apiKey ? [apiKey(opts.apiKey)] : [];
  const transport = opts.protocol === "grpc-web"
    ? createGrpcWebTransport({ baseUrl, interceptors })
    : createConnectTransport({ baseUrl, interceptors, useBinaryFormat: true });
  return new Weft(transport, opts);
}

function toArray(v: Float32Array | number[]): number[] {
  return Array.from(v);
}

function metricOf(m: string): Metric {
  switch (m) {
    case "cosine":
      return Metric.COSINE;
    case "l2":
      return Metric.L2;
    case "dot":
      return Metric.DOT;
  }
  throw new Error(`metric ${JSON.stringify(m)}: want cosine, l2 or dot`);
}

function attributeTypeOf(t: string): AttributeType {
  const types: Record<string, AttributeType> = {
    string: AttributeType.STRING,
    int: AttributeType.INT,
    float: AttributeType.FLOAT,
    bool: AttributeType.BOOL,
    string_list: AttributeType.STRING_LIST,
  };
  if (!(t in types)) throw new Error(`attribute type ${JSON.stringify(t)}: want string, int, float, bool or string_list`);
  return types[t];
}

function toAttributes(a: Record<string, Attribute> | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(a ?? {})) {
    let kind: AttributeValue["kind"];
    if (typeof v === "string") kind = { case: "stringValue", value: v };
    else if (typeof v === "boolean") kind = { case: "boolValue", value: v };
    else if (typeof v === "bigint") kind = { case: "intValue", value: v };
    else if (typeof v === "number") kind = Number.isInteger(v) ? { case: "intValue", value: BigInt(v) } : { case: "floatValue", value: v };
    else if (Array.isArray(v) && v.every((s) => typeof s === "string")) kind = { case: "stringListValue", value: { values: v } as never };
    else if (typeof v === "object" && v !== null && "float" in v) kind = { case: "floatValue", value: v.float };
    else throw new Error(`attribute ${JSON.stringify(k)}: not a string, number, bigint, boolean or list of strings`);
    out[k] = { kind } as AttributeValue;
  }
  return out;
}

function fromAttributes(a: Record<string, AttributeValue>): Record<string, Attribute> {
  const out: Record<string, Attribute> = {};
  for (const [k, v] of Object.entries(a)) {
    switch (v.kind.case) {
      case "stringValue":
      case "boolValue":
      case "intValue":
      case "floatValue":
        out[k] = v.kind.value;
        break;
      case "stringListValue":
        out[k] = [...v.kind.value.values];
        break;
    }
  }
  return out;
}
