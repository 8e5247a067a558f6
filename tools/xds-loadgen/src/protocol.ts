// The IPC messages between the load generator's controller and its worker processes.
import type { ProxySpec, TypeCounters } from "./proxy.ts";

export type Command =
  | { op: "connect"; target: string; proxies: ProxySpec[]; timeoutMs: number }
  | { op: "await"; typeUrl: string; version: string; timeoutMs: number; cluster?: string }
  | { op: "reconnect"; target: string }
  | { op: "disconnect" }
  | { op: "stats" }
  | { op: "stop" };

export type Request = Command & { seq: number };

export type Reply = { seq: number; ok: true; result: unknown } | { seq: number; ok: false; error: string };

export interface ConnectResult {
  /** Proxies that answered every type they need within the timeout. */
  synced: number;
  /** When the last one did (epoch ms). */
  lastSyncedAt: number;
}

export interface AwaitResult {
  /** ACK times (epoch ms) of the proxies that accepted the version. */
  acks: number[];
  /** Proxies that rejected it (told to). */
  nacks: number;
  /** Proxies that did neither within the timeout. */
  missing: string[];
}

export interface WorkerStats {
  pid: number;
  proxies: number;
  connected: number;
  synced: number;
  reconnects: number;
  /** Distinct resources decoded by this process. */
  decoded: number;
  rssBytes: number;
  heapUsedBytes: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Summed over this worker's proxies, per type URL. */
  types: Record<string, TypeCounters>;
  /** Per proxy id: responses received per type URL (for pushes-per-proxy figures and tests). */
  perProxy: Record<
    string,
    Record<string, { responses: number; acks: number; nacks: number; accepted: string }>
  >;
}
