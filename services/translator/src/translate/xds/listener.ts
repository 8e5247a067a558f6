// The waypoint's one inbound listener: PROXY protocol in front (ztunnel's original destination and
// peer identity), then one filter chain per (service VIPs, port).
import { isIP } from "node:net";
import type {
  ConfigSourceJson,
  EarlyHeaderMutationJson,
  FilterChainJson,
  FilterChainMatchJson,
  FilterJson,
  HttpConnectionManagerJson,
  HttpFilterJson,
  ListenerJson,
  ProxyProtocolJson,
  RouterJson,
  SetFilterStateJson,
  SocketAddressJson,
  TcpProxyJson,
  TlsInspectorJson,
} from "@waymark/envoy-proto";
import {
  AUTHORITY_FILTER_NAME,
  LISTENER_NAME,
  PEER_PRINCIPAL_FILTER_STATE_KEY,
  PEER_PRINCIPAL_METADATA_KEY,
  PEER_PRINCIPAL_TLV,
  PROXY_PROTOCOL_FILTER,
} from "../input/names.ts";
import { pack } from "../ir/any.ts";
import {
  type HttpFilterSlot,
  inHttpOrder,
  inNetworkOrder,
  type NetworkFilterSlot,
} from "../ir/filter-order.ts";
import type { ChainIR, ListenerIR, ListenerTracingIR, StreamForwardIR } from "../ir/types.ts";
import { hcmTracing } from "./tracing.ts";

const ADS: ConfigSourceJson = { ads: {}, resourceApiVersion: "V3" };

export function emitListener(l: ListenerIR): ListenerJson {
  const socketAddress: SocketAddressJson = { address: l.bindAddress, portValue: l.port };
  if (l.bindAddress === "::") socketAddress.ipv4Compat = true;
  const proxyProtocol: ProxyProtocolJson = {
    rules: [{ tlvType: PEER_PRINCIPAL_TLV, onTlvPresent: { key: PEER_PRINCIPAL_METADATA_KEY } }],
    allowRequestsWithoutProxyProtocol: false,
  };
  return {
    name: LISTENER_NAME,
    address: { socketAddress },
    listenerFilters: [
      {
        name: PROXY_PROTOCOL_FILTER,
        typedConfig: pack("envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", proxyProtocol),
      },
      // After the PROXY header (it sets the original destination the predicate reads).
      ...(l.sniPorts?.length ? [tlsInspector(l.sniPorts)] : []),
    ],
    filterChains: l.chains.flatMap((c) =>
      c.kind === "http" ? [httpChain(c, l.xffTrustedHops ?? 0, l.tracing)] : tcpChains(c),
    ),
  };
}

/**
 * Reads the SNI of a TLS ClientHello for the chains that match on server_names (TLSRoutes). It waits
 * for the client's first bytes, which a server-first protocol (a database greeting) never sends: so it
 * is disabled on every destination port where no chain needs the SNI.
 */
function tlsInspector(ports: readonly number[]): NonNullable<ListenerJson["listenerFilters"]>[number] {
  const rules = ports.map((p) => ({ destinationPortRange: { start: p, end: p + 1 } }));
  const inspector: TlsInspectorJson = {};
  return {
    name: "envoy.filters.listener.tls_inspector",
    typedConfig: pack("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", inspector),
    filterDisabled: { notMatch: rules.length === 1 ? rules[0]! : { orMatch: { rules } } },
  };
}

/**
 * Copies the peer identity from the PROXY protocol metadata into filter state, where Istio-style RBAC
 * reads it. Stock Envoy has no factory registered for the Istio key, so the generic string factory is
 * named explicitly.
 */
function authorityFilter(): FilterJson {
  const config: SetFilterStateJson = {
    onNewConnection: [
      {
        objectKey: PEER_PRINCIPAL_FILTER_STATE_KEY,
        factoryKey: "envoy.string",
        // Without TLV 0xD0 the format string would render "-", which a principals: ["*"] rule (regex
        // .+) matches: a peer without identity would pass as authenticated. With omitEmptyValues the
        // value renders empty, and skipIfEmpty then leaves the filter state unset (design note §4).
        formatString: {
          textFormatSource: {
            inlineString: `%DYNAMIC_METADATA(${PROXY_PROTOCOL_FILTER}:${PEER_PRINCIPAL_METADATA_KEY})%`,
          },
          omitEmptyValues: true,
        },
        skipIfEmpty: true,
      },
    ],
  };
  return {
    name: AUTHORITY_FILTER_NAME,
    typedConfig: pack("envoy.extensions.filters.network.set_filter_state.v3.Config", config),
  };
}

function chainMatch(vips: readonly string[], port: number): FilterChainMatchJson {
  return {
    prefixRanges: vips.map((vip) => {
      // A ServiceEntry's spec.addresses may hold CIDRs (input/serviceentry.ts reads them valid).
      const [ip = vip, len] = vip.split("/");
      return { addressPrefix: ip, prefixLen: len ? Number(len) : isIP(ip) === 6 ? 128 : 32 };
    }),
    destinationPort: port,
  };
}

// Each chain gets its own copy of the policies' filters: nothing in the output is shared.
function chainFilters(c: ChainIR, terminal: FilterJson): FilterJson[] {
  const placed: Array<{ slot: NetworkFilterSlot; filter: FilterJson }> = c.networkFilters.map((f) => ({
    slot: f.slot,
    filter: structuredClone(f.filter),
  }));
  placed.push({ slot: "peerIdentity", filter: authorityFilter() }, { slot: "terminal", filter: terminal });
  return inNetworkOrder(placed);
}

function routerFilter(): HttpFilterJson {
  const router: RouterJson = {};
  return {
    name: "envoy.filters.http.router",
    typedConfig: pack("envoy.extensions.filters.http.router.v3.Router", router),
  };
}

/** An HTTP chain: HCM with RDS (route configuration named like the chain) over ADS. */
function httpChain(
  c: ChainIR,
  xffTrustedHops: number,
  tracing: ListenerTracingIR | undefined,
): FilterChainJson {
  const placed: Array<{ slot: HttpFilterSlot; filter: HttpFilterJson }> = c.httpFilters.map((f) => ({
    slot: f.slot,
    filter: structuredClone(f.filter),
  }));
  placed.push({ slot: "router", filter: routerFilter() });
  const hcm: HttpConnectionManagerJson = {
    statPrefix: c.name,
    useRemoteAddress: true,
    // How many X-Forwarded-For hops the waypoint trusts (remote_ip of the RBAC filters); 0 is
    // Envoy's default and is left out.
    ...(xffTrustedHops > 0 ? { xffNumTrustedHops: xffTrustedHops } : {}),
    rds: { configSource: ADS, routeConfigName: c.name },
    httpFilters: inHttpOrder(placed),
    // WebSocket upgrades are on for every HTTP chain, as kgateway (and Istio's waypoint) have them
    // by default; without this Envoy answers an upgrade request with 403. Upgraded streams pass the
    // same filter chain; the transformation's Lua leaves their bodies alone (see its chunk.ts).
    upgradeConfigs: [{ upgradeType: "websocket" }],
    ...(tracing ? { tracing: hcmTracing(tracing) } : {}),
  };
  if (c.earlyRemovedHeaders?.length) {
    const mutation: EarlyHeaderMutationJson = {
      mutations: c.earlyRemovedHeaders.map((remove) => ({ remove })),
    };
    hcm.earlyHeaderMutationExtensions = [
      {
        name: "waymark.strip-verified-claim-headers",
        typedConfig: pack(
          "envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
          mutation,
        ),
      },
    ];
  }
  return {
    name: c.name,
    filterChainMatch: chainMatch(c.vips, c.port),
    filters: chainFilters(c, {
      name: "envoy.filters.network.http_connection_manager",
      typedConfig: pack(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        hcm,
      ),
    }),
  };
}

function tcpProxy(statPrefix: string, to: string | StreamForwardIR): FilterJson {
  const proxy: TcpProxyJson =
    typeof to === "string"
      ? { statPrefix, cluster: to }
      : to.clusters.length === 1
        ? { statPrefix, cluster: to.clusters[0]!.cluster }
        : {
            statPrefix,
            weightedClusters: { clusters: to.clusters.map((c) => ({ name: c.cluster, weight: c.weight })) },
          };
  return {
    name: "envoy.filters.network.tcp_proxy",
    typedConfig: pack("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", proxy),
  };
}

/**
 * A TCP port's chains: straight to the service's cluster; or, with routes (ChainIR.stream), one chain
 * per TLSRoute host name (matched on the SNI) and one for the TCPRoute (or none: the other
 * connections are refused). Every chain gets the same network filters, authorization included.
 */
function tcpChains(c: ChainIR): FilterChainJson[] {
  if (!c.stream) {
    return [
      {
        name: c.name,
        filterChainMatch: chainMatch(c.vips, c.port),
        filters: chainFilters(c, tcpProxy(c.name, c.cluster)),
      },
    ];
  }
  const out: FilterChainJson[] = c.stream.sni.map(({ hostname, forward }) => {
    const name = `${c.name}/sni/${hostname}`;
    return {
      name,
      filterChainMatch: { ...chainMatch(c.vips, c.port), serverNames: [hostname] },
      filters: chainFilters(c, tcpProxy(name, forward)),
    };
  });
  if (c.stream.forward)
    out.push({
      name: c.name,
      filterChainMatch: chainMatch(c.vips, c.port),
      filters: chainFilters(c, tcpProxy(c.name, c.stream.forward)),
    });
  return out;
}
