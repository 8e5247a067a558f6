// The Envoy matchers docs/design/authorization.md prescribes, checked against the model on a real
// Envoy behind a PROXY v2 header, one hand-written chain per matcher. This pins the assumptions
// the model makes about Envoy (which address each IP matcher sees behind ztunnel, how repeated
// headers, Host and path templates match, what a missing identity TLV leaves in filter state)
// before the translator and the differential test of issue 13 build on them.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type EnvoyProc, freePort, startEnvoy, tempDir } from "@waymark/testing";
import { encodeProxyV2 } from "@waymark/ztunnel-standin";
import { evaluate } from "./evaluate.ts";
import type { AuthorizationPolicySpec, Request } from "./types.ts";

const any = (type: string, body: Record<string, unknown>) => ({
  "@type": `type.googleapis.com/${type}`,
  ...body,
});
const FORMAT = "%DYNAMIC_METADATA(envoy.filters.listener.proxy_protocol:peer_principal)%";

interface Case {
  name: string;
  /** The ALLOW policy, and the Envoy permission and principal the design note makes of it. */
  spec: AuthorizationPolicySpec;
  permission?: unknown;
  principal?: unknown;
  requests: { source?: string; identity?: string; path?: string; headers?: [string, string][] }[];
}

const cidr = (ip: string) => ({ address_prefix: ip, prefix_len: 32 });
const allowWhen = (key: string, values: string[]): AuthorizationPolicySpec => ({
  rules: [{ when: [{ key, values }] }],
});
const cases: Case[] = [
  {
    name: "ipBlocks → source_ip: the PROXY source, whatever X-Forwarded-For says",
    spec: { rules: [{ from: [{ source: { ipBlocks: ["10.0.0.1"] } }] }] },
    principal: { source_ip: cidr("10.0.0.1") },
    requests: [{}, { headers: [["x-forwarded-for", "1.2.3.4"]] }, { source: "10.0.0.9" }],
  },
  {
    name: "remoteIpBlocks → remote_ip with one trusted hop: X-Forwarded-For, else the PROXY source",
    spec: { rules: [{ from: [{ source: { remoteIpBlocks: ["1.2.3.4"] } }] }] },
    principal: { remote_ip: cidr("1.2.3.4") },
    requests: [
      {},
      { headers: [["x-forwarded-for", "1.2.3.4"]] },
      { headers: [["x-forwarded-for", "5.6.7.8"]] },
    ],
  },
  {
    name: "principals: ['*'] → filter state regex .+; no TLV leaves no filter state",
    spec: { rules: [{ from: [{ source: { principals: ["*"] } }] }] },
    principal: {
      filter_state: { key: "io.istio.peer_principal", string_match: { safe_regex: { regex: ".+" } } },
    },
    requests: [{}, { identity: "spiffe://cluster.local/ns/a/sa/b" }],
  },
  {
    name: "a header sent twice matches when one value does",
    spec: allowWhen("request.headers[x-tier]", ["silver"]),
    principal: { header: { name: "x-tier", string_match: { exact: "silver" } } },
    requests: [
      {
        headers: [
          ["x-tier", "gold"],
          ["x-tier", "silver"],
        ],
      },
      { headers: [["x-tier", "gold"]] },
    ],
  },
  {
    name: "…and not on the values joined with a comma",
    spec: allowWhen("request.headers[x-tier]", ["gold,silver"]),
    principal: { header: { name: "x-tier", string_match: { exact: "gold,silver" } } },
    requests: [
      {
        headers: [
          ["x-tier", "gold"],
          ["x-tier", "silver"],
        ],
      },
      { headers: [["x-tier", "gold,silver"]] },
    ],
  },
  {
    name: "request.headers[host] reads the Host header",
    spec: allowWhen("request.headers[host]", ["httpbin*"]),
    principal: { header: { name: "host", string_match: { prefix: "httpbin" } } },
    requests: [{}],
  },
  {
    name: "paths {**} → uri_template **: zero or more segments after the slash, query ignored",
    spec: { rules: [{ to: [{ operation: { paths: ["/api/{**}"] } }] }] },
    permission: {
      uri_template: {
        name: "envoy.path.match.uri_template.uri_template_matcher",
        typed_config: any("envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", {
          path_template: "/api/**",
        }),
      },
    },
    requests: [{ path: "/api" }, { path: "/api/" }, { path: "/api/v1/x?q=1" }, { path: "/apix" }],
  },
  {
    name: "paths exact → url_path: the query is not part of the path",
    spec: { rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] },
    permission: { url_path: { path: { exact: "/admin" } } },
    requests: [{ path: "/admin?debug=1" }, { path: "/admin/" }],
  },
];

const BASE_PORT = 9100;
let envoy: EnvoyProc;
let port = 0;

function chain(c: Case, i: number) {
  return {
    filter_chain_match: { destination_port: BASE_PORT + i },
    filters: [
      {
        // As the design note prescribes (§4): no filter state at all when the TLV is absent.
        name: "proxy_protocol_authority",
        typed_config: any("envoy.extensions.filters.network.set_filter_state.v3.Config", {
          on_new_connection: [
            {
              object_key: "io.istio.peer_principal",
              factory_key: "envoy.string",
              skip_if_empty: true,
              format_string: { omit_empty_values: true, text_format_source: { inline_string: FORMAT } },
            },
          ],
        }),
      },
      {
        name: "envoy.filters.network.http_connection_manager",
        typed_config: any(
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          {
            stat_prefix: `case${i}`,
            use_remote_address: true,
            xff_num_trusted_hops: 1,
            route_config: {
              virtual_hosts: [
                {
                  name: "all",
                  domains: ["*"],
                  routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }],
                },
              ],
            },
            http_filters: [
              {
                name: "envoy.filters.http.rbac",
                typed_config: any("envoy.extensions.filters.http.rbac.v3.RBAC", {
                  rules: {
                    action: "ALLOW",
                    policies: {
                      p: {
                        permissions: [c.permission ?? { any: true }],
                        principals: [c.principal ?? { any: true }],
                      },
                    },
                  },
                }),
              },
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

before(async () => {
  port = await freePort();
  envoy = await startEnvoy({
    name: "authz-model",
    logDir: tempDir("authz-model-envoy"),
    bootstrap: {
      node: { id: "authz-model", cluster: "authz-model" },
      static_resources: {
        listeners: [
          {
            name: "proxy_protocol_inbound",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            listener_filters: [
              {
                name: "envoy.filters.listener.proxy_protocol",
                typed_config: any("envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", {
                  rules: [{ tlv_type: 0xd0, on_tlv_present: { key: "peer_principal" } }],
                }),
              },
            ],
            filter_chains: cases.map(chain),
          },
        ],
      },
    },
  });
});

after(async () => {
  await envoy?.stop();
});

/** One HTTP/1.1 request behind a PROXY v2 header; resolves with the status code of the response head. */
function send(dport: number, r: Case["requests"][number]): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      const tlvs = r.identity ? [{ type: 0xd0, value: r.identity }] : [];
      s.write(
        encodeProxyV2({
          source: { address: r.source ?? "10.0.0.1", port: 40000 },
          destination: { address: "10.96.0.1", port: dport },
          tlvs,
        }),
      );
      const headers = (r.headers ?? []).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      s.write(
        `GET ${r.path ?? "/"} HTTP/1.1\r\nhost: httpbin.foo:8000\r\n${headers}connection: close\r\n\r\n`,
      );
    });
    let out = "";
    s.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const done = () => {
      s.destroy();
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0));
    };
    // The responses have no body: the head is the whole answer.
    s.on("data", () => {
      if (out.includes("\r\n\r\n")) done();
    });
    s.on("end", done);
    s.on("error", reject);
  });
}

/** The same request as the model sees it (the HCM trusts one X-Forwarded-For hop). */
function modelRequest(r: Case["requests"][number]): Request {
  const headers: Record<string, string[]> = {};
  for (const [k, v] of r.headers ?? []) headers[k] = [...(headers[k] ?? []), v];
  const req: Request = {
    protocol: "http",
    sourceIp: r.source ?? "10.0.0.1",
    destinationIp: "10.96.0.1",
    destinationPort: 0,
    method: "GET",
    path: r.path ?? "/",
    host: "httpbin.foo:8000",
    headers,
  };
  if (r.identity) req.peerPrincipal = r.identity;
  const xff = headers["x-forwarded-for"]?.[0];
  if (xff) req.remoteIp = xff;
  return req;
}

describe("the model agrees with Envoy 1.40 on the matchers the design note prescribes", () => {
  cases.forEach((c, i) => {
    it(c.name, async () => {
      const seen = new Set<string>();
      for (const r of c.requests) {
        const status = await send(BASE_PORT + i, r);
        assert.ok(status === 200 || status === 403, `unexpected status ${status} for ${JSON.stringify(r)}`);
        const envoyVerdict = status === 200 ? "allow" : "deny";
        const policy = { metadata: { name: "p", namespace: "foo" }, spec: c.spec };
        const modelVerdict = evaluate([policy], {
          ...modelRequest(r),
          destinationPort: BASE_PORT + i,
        }).decision;
        assert.equal(modelVerdict, envoyVerdict, JSON.stringify(r));
        seen.add(envoyVerdict);
      }
      // Each case has a request Envoy allows and, but for the Host case, one it denies.
      assert.ok(seen.has("allow"));
      if (c.requests.length > 1) assert.ok(seen.has("deny"), `${c.name}: no request was denied`);
    });
  });
});
