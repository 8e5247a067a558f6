// The stand-in in front of a real Envoy configured like a kgateway waypoint's PROXY listener, with
// go-httpbin behind it: the identity and the original destination must arrive in Envoy.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { createLogger } from "@waymark/api";
import { type EnvoyProc, freePort, type Httpbin, startEnvoy, startHttpbin, tempDir } from "@waymark/testing";
import { type Standin, startStandin } from "./index.ts";

const identity = "spiffe://cluster.local/ns/httpbin/sa/client";
const VIP = "10.96.0.12";
const OTHER_VIP = "10.96.0.13";
let envoy: EnvoyProc;
let httpbin: Httpbin;
let standin: Standin;

const any = (type: string, body: Record<string, unknown>) => ({
  "@type": `type.googleapis.com/${type}`,
  ...body,
});

/** An HTTP filter chain for one (VIP, port), as the translator will emit it (minus RDS). */
function httpChain(name: string, vip: string, port: number, routes: unknown[]) {
  return {
    name,
    filter_chain_match: { prefix_ranges: [{ address_prefix: vip, prefix_len: 32 }], destination_port: port },
    filters: [
      {
        name: "proxy_protocol_authority",
        typed_config: any("envoy.extensions.filters.network.set_filter_state.v3.Config", {
          on_new_connection: [
            {
              object_key: "io.istio.peer_principal",
              factory_key: "envoy.string",
              format_string: {
                text_format_source: {
                  inline_string: "%DYNAMIC_METADATA(envoy.filters.listener.proxy_protocol:peer_principal)%",
                },
              },
              shared_with_upstream: "ONCE",
            },
          ],
        }),
      },
      {
        name: "envoy.filters.network.http_connection_manager",
        typed_config: any(
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          {
            stat_prefix: name,
            use_remote_address: true,
            route_config: {
              name,
              virtual_hosts: [
                {
                  name,
                  domains: ["*"],
                  routes,
                  response_headers_to_add: [
                    {
                      header: {
                        key: "x-peer-principal",
                        value: "%FILTER_STATE(io.istio.peer_principal:PLAIN)%",
                      },
                    },
                    { header: { key: "x-original-dst", value: "%DOWNSTREAM_LOCAL_ADDRESS%" } },
                    { header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS%" } },
                  ],
                },
              ],
            },
            http_filters: [
              {
                name: "envoy.filters.http.router",
                typed_config: any("envoy.extensions.filters.http.router.v3.Router", {}),
              },
            ],
          },
        ),
      },
    ],
  };
}

let proxyPort = 0;

before(async () => {
  const logDir = tempDir("standin-envoy");
  httpbin = await startHttpbin({ name: "httpbin", logDir });
  proxyPort = await freePort();
  envoy = await startEnvoy({
    name: "waypoint",
    logDir,
    bootstrap: {
      node: { id: "waypoint-0.httpbin", cluster: "waypoint.httpbin" },
      static_resources: {
        listeners: [
          {
            name: "proxy_protocol_inbound",
            address: { socket_address: { address: "127.0.0.1", port_value: proxyPort } },
            listener_filters: [
              {
                name: "envoy.filters.listener.proxy_protocol",
                typed_config: any("envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", {
                  rules: [{ tlv_type: 0xd0, on_tlv_present: { key: "peer_principal" } }],
                }),
              },
            ],
            filter_chains: [
              httpChain("fc_http_8000_httpbin_httpbin", VIP, 8000, [
                { match: { prefix: "/" }, route: { cluster: "httpbin" } },
              ]),
              httpChain("fc_http_9000_other_httpbin", OTHER_VIP, 9000, [
                {
                  match: { prefix: "/" },
                  direct_response: { status: 418, body: { inline_string: "other service" } },
                },
              ]),
            ],
          },
        ],
        clusters: [
          {
            name: "httpbin",
            type: "STATIC",
            connect_timeout: "1s",
            load_assignment: {
              cluster_name: "httpbin",
              endpoints: [
                {
                  lb_endpoints: [
                    {
                      endpoint: {
                        address: { socket_address: { address: "127.0.0.1", port_value: httpbin.port } },
                      },
                    },
                  ],
                },
              ],
            },
          },
        ],
      },
    },
  });
  standin = await startStandin({
    waypoint: { host: "127.0.0.1", port: proxyPort },
    routes: [
      { listen: { host: "127.0.0.1", port: 0 }, destination: { address: VIP, port: 8000 } },
      { listen: { host: "127.0.0.1", port: 0 }, destination: { address: OTHER_VIP, port: 9000 } },
      { listen: { host: "127.0.0.1", port: 0 }, destination: { address: VIP, port: 8001 } },
    ],
    identity,
    log: createLogger("test", {}, () => {}),
  });
});

after(async () => {
  await standin?.stop();
  await envoy?.stop();
  await httpbin?.stop();
});

function get(port: number, path: string) {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent: false, headers: { host: "httpbin.httpbin:8000" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("an HTTP request through the stand-in reaches httpbin via the VIP's filter chain, with the identity", async () => {
  const r = await get(standin.ports[0]!, "/headers");
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers["x-peer-principal"], identity);
  assert.equal(r.headers["x-original-dst"], `${VIP}:8000`);
  assert.match(String(r.headers["x-client"]), /^127\.0\.0\.1:\d+$/);
  const echoed = JSON.parse(r.body) as { headers: Record<string, string[]> };
  assert.deepEqual(echoed.headers["Host"], ["httpbin.httpbin:8000"]);
});

test("another destination picks another filter chain; an unknown one is refused", async () => {
  const other = await get(standin.ports[1]!, "/");
  assert.equal(other.status, 418);
  assert.equal(other.body, "other service");
  assert.equal(other.headers["x-original-dst"], `${OTHER_VIP}:9000`);
  await assert.rejects(get(standin.ports[2]!, "/"), /socket hang up|ECONNRESET/);
  const stats = await envoy.stats("no_filter_chain_match");
  assert.ok(
    [...stats.values()].some((v) => v >= 1),
    "Envoy counted the unmatched connection",
  );
});
