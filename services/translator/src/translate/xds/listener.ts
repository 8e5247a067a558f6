// The waypoint's one inbound listener: PROXY protocol in front (ztunnel's original destination and
// peer identity), then one filter chain per (service VIPs, port).
import { isIP } from "node:net";
import type { JsonObject } from "@waymark/envoy-proto";
import {
  AUTHORITY_FILTER_NAME,
  LISTENER_NAME,
  PEER_PRINCIPAL_FILTER_STATE_KEY,
  PEER_PRINCIPAL_METADATA_KEY,
  PEER_PRINCIPAL_TLV,
  PROXY_PROTOCOL_FILTER,
} from "../input/names.ts";

const T = "type.googleapis.com/";
const ADS = { ads: {}, resourceApiVersion: "V3" };

export function buildListener(bindAddress: string, port: number, chains: JsonObject[]): JsonObject {
  const socketAddress: JsonObject = { address: bindAddress, portValue: port };
  if (bindAddress === "::") socketAddress.ipv4Compat = true;
  return {
    name: LISTENER_NAME,
    address: { socketAddress },
    listenerFilters: [
      {
        name: PROXY_PROTOCOL_FILTER,
        typedConfig: {
          "@type": `${T}envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol`,
          rules: [{ tlvType: PEER_PRINCIPAL_TLV, onTlvPresent: { key: PEER_PRINCIPAL_METADATA_KEY } }],
          allowRequestsWithoutProxyProtocol: false,
        },
      },
    ],
    filterChains: chains,
  };
}

/**
 * Copies the peer identity from the PROXY protocol metadata into filter state, where Istio-style RBAC
 * reads it. Stock Envoy has no factory registered for the Istio key, so the generic string factory is
 * named explicitly.
 */
function authorityFilter(): JsonObject {
  return {
    name: AUTHORITY_FILTER_NAME,
    typedConfig: {
      "@type": `${T}envoy.extensions.filters.network.set_filter_state.v3.Config`,
      onNewConnection: [
        {
          objectKey: PEER_PRINCIPAL_FILTER_STATE_KEY,
          factoryKey: "envoy.string",
          formatString: {
            textFormatSource: {
              inlineString: `%DYNAMIC_METADATA(${PROXY_PROTOCOL_FILTER}:${PEER_PRINCIPAL_METADATA_KEY})%`,
            },
          },
        },
      ],
    },
  };
}

function chainMatch(vips: readonly string[], port: number): JsonObject {
  return {
    prefixRanges: vips.map((ip) => ({ addressPrefix: ip, prefixLen: isIP(ip) === 6 ? 128 : 32 })),
    destinationPort: port,
  };
}

/** An HTTP chain: HCM with RDS (route configuration named like the chain) over ADS. */
export function httpChain(name: string, vips: readonly string[], port: number): JsonObject {
  return {
    name,
    filterChainMatch: chainMatch(vips, port),
    filters: [
      authorityFilter(),
      {
        name: "envoy.filters.network.http_connection_manager",
        typedConfig: {
          "@type": `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
          statPrefix: name,
          useRemoteAddress: true,
          rds: { configSource: ADS, routeConfigName: name },
          httpFilters: [
            {
              name: "envoy.filters.http.router",
              typedConfig: { "@type": `${T}envoy.extensions.filters.http.router.v3.Router` },
            },
          ],
        },
      },
    ],
  };
}

/** A TCP chain: straight to the service's cluster. */
export function tcpChain(name: string, vips: readonly string[], port: number, cluster: string): JsonObject {
  return {
    name,
    filterChainMatch: chainMatch(vips, port),
    filters: [
      authorityFilter(),
      {
        name: "envoy.filters.network.tcp_proxy",
        typedConfig: {
          "@type": `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
          statPrefix: name,
          cluster,
        },
      },
    ],
  };
}

const HCM_TYPE = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;

/**
 * Inserts HTTP filters (policy features, see policies/index.ts) just before the router in every HTTP
 * connection manager of a listener; a filter already present (by name) is not added twice.
 */
export function insertHttpFilters(listener: JsonObject, filters: readonly JsonObject[]): void {
  for (const chain of Array.isArray(listener.filterChains) ? listener.filterChains : []) {
    if (typeof chain !== "object" || chain === null || Array.isArray(chain)) continue;
    for (const f of Array.isArray(chain.filters) ? chain.filters : []) {
      if (typeof f !== "object" || f === null || Array.isArray(f)) continue;
      const hcm = f.typedConfig;
      if (typeof hcm !== "object" || hcm === null || Array.isArray(hcm) || hcm["@type"] !== HCM_TYPE)
        continue;
      const list = Array.isArray(hcm.httpFilters) ? hcm.httpFilters : [];
      const names = new Set(
        list.map((h) => (typeof h === "object" && h !== null && !Array.isArray(h) ? h.name : "")),
      );
      const add = filters.filter((x) => !names.has(x.name)).map((x) => structuredClone(x));
      const router = list.findIndex(
        (h) =>
          typeof h === "object" && h !== null && !Array.isArray(h) && h.name === "envoy.filters.http.router",
      );
      list.splice(router < 0 ? list.length : router, 0, ...add);
      hcm.httpFilters = list;
    }
  }
}
