export * from "./buckets.ts";
export * from "./envelopes.ts";
export * from "./errors.ts";
export * from "./issuer.ts";
export * from "./keys.ts";
export * from "./kube.ts";
export * from "./liveness.ts";
export * from "./log.ts";
