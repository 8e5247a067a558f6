export * from "./envoy.ts";
export * from "./httpbin.ts";
export * from "./nats.ts";
export * from "./process.ts";
