// @waymark/xds-loadgen: simulated Envoys (ADS delta and SotW) spread over worker processes.
export { type AggregateStats, LoadGen, LoadGenError, proxySpecs } from "./controller.ts";
export {
  type EncodedSnapshot,
  encodeSnapshot,
  type PutKv,
  publishToWaymark,
  type ResourceSet,
  referenceBody,
  resourceBytes,
  routeConfiguration,
  type SyntheticOptions,
  syntheticWaypoint,
} from "./fixture.ts";
export { cpuShare, type ProcSample, sampleProcess, watchPeakRss } from "./procstat.ts";
export type { AwaitResult, ConnectResult, WorkerStats } from "./protocol.ts";
export { type ProxyHooks, type ProxySpec, SimProxy, type TypeCounters, type XdsProtocol } from "./proxy.ts";
export { type ReferenceServer, referenceBinary, startReference } from "./reference.ts";
export { RefCache } from "./refs.ts";
export { readResponse } from "./wire.ts";
