// The generated weft.v1 messages and services, for calls the Weft class
// does not wrap.
export * from "./gen/weft/v1/auth_pb.js";
export * from "./gen/weft/v1/document_pb.js";
export * from "./gen/weft/v1/namespace_pb.js";
export * from "./gen/weft/v1/plugin_pb.js";
export * from "./gen/weft/v1/query_pb.js";
export * from "./gen/weft/v1/types_pb.js";
