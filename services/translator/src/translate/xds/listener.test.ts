import assert from "node:assert/strict";
import { test } from "node:test";
import { AUTHORITY_FILTER_NAME } from "../input/names.ts";
import type { ServiceInfo } from "../input/objects.ts";
import type { ChainIR } from "../ir/types.ts";
import { emitListener } from "./listener.ts";

const service = { name: "s", namespace: "ns" } as ServiceInfo;

function chain(name: string, kind: "http" | "tcp"): ChainIR {
  return {
    name,
    kind,
    vips: ["10.0.0.1"],
    port: kind === "http" ? 80 : 5432,
    cluster: "kube_ns_s_80",
    service,
    httpFilters: [{ slot: "transformation", filter: { name: "lua", disabled: true } }],
    networkFilters: [{ slot: "authorization", filter: { name: "network-rbac" } }],
  };
}

test("each chain's filters come out in the slots' order, as copies of the IR's", () => {
  const http = chain("http", "http");
  const tcp = chain("tcp", "tcp");
  const l = emitListener({ bindAddress: "127.0.0.1", port: 15088, chains: [http, tcp] });
  const [h, t] = l.filterChains ?? [];
  const names = (fs: Array<{ name?: string }> | undefined) => (fs ?? []).map((f) => f.name);
  assert.deepEqual(names(h?.filters), [
    AUTHORITY_FILTER_NAME,
    "network-rbac",
    "envoy.filters.network.http_connection_manager",
  ]);
  assert.deepEqual(names(t?.filters), [
    AUTHORITY_FILTER_NAME,
    "network-rbac",
    "envoy.filters.network.tcp_proxy",
  ]);
  const hcm = h?.filters?.[2]?.typedConfig as { httpFilters?: Array<{ name?: string }> };
  assert.deepEqual(names(hcm.httpFilters), ["lua", "envoy.filters.http.router"]);
  assert.notEqual(hcm.httpFilters?.[0], http.httpFilters[0]?.filter, "a copy, not the IR's object");
});

test("the peer identity filter state stays unset without TLV 0xD0 (no '-' placeholder)", () => {
  const l = emitListener({ bindAddress: "127.0.0.1", port: 15088, chains: [chain("http", "http")] });
  const identity = l.filterChains?.[0]?.filters?.find((f) => f.name === AUTHORITY_FILTER_NAME);
  const config = identity?.typedConfig as {
    onNewConnection?: Array<{ skipIfEmpty?: boolean; formatString?: { omitEmptyValues?: boolean } }>;
  };
  const value = config.onNewConnection?.[0];
  assert.ok(value, "no filter state value");
  // Both are needed: omitEmptyValues renders a missing TLV as "" instead of "-", and skipIfEmpty then
  // sets nothing (design note §4).
  assert.equal(value.formatString?.omitEmptyValues, true);
  assert.equal(value.skipIfEmpty, true);
});

test("xff_num_trusted_hops comes from the listener's setting, on every HTTP connection manager", () => {
  const hopsOf = (xffTrustedHops: number | undefined) => {
    const l = emitListener({
      bindAddress: "127.0.0.1",
      port: 15088,
      chains: [chain("a", "http"), chain("b", "http")],
      ...(xffTrustedHops === undefined ? {} : { xffTrustedHops }),
    });
    return (l.filterChains ?? []).map(
      (c) =>
        (c.filters?.at(-1)?.typedConfig as { xffNumTrustedHops?: number } | undefined)?.xffNumTrustedHops,
    );
  };
  assert.deepEqual(hopsOf(undefined), [undefined, undefined], "0, Envoy's default, is left out");
  assert.deepEqual(hopsOf(0), [undefined, undefined]);
  assert.deepEqual(hopsOf(1), [1, 1]);
});
