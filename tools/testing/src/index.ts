export * from "./envoy.ts";
export * from "./httpbin.ts";
export * from "./jwt.ts";
export * from "./kube.ts";
export * from "./nats.ts";
export * from "./node.ts";
export * from "./process.ts";
