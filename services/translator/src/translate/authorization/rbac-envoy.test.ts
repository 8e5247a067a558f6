// The RBAC filters the builder makes, loaded into a real Envoy: one filter chain per case behind a
// PROXY v2 header (as ztunnel sends it), a direct-response route on HTTP chains and an echo server
// behind TCP chains, and a few requests per case whose verdict is written down by hand from Istio's
// semantics (docs/design/authorization.md). Envoy must accept every filter (it would refuse the
// bootstrap otherwise) and decide as Istio does.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { HttpFilterJson } from "@waymark/envoy-proto";
import { type EnvoyProc, freePort, startEnvoy, tempDir } from "@waymark/testing";
import fc from "fast-check";
import { PEER_PRINCIPAL_FILTER_STATE_KEY } from "../input/names.ts";
import type { BoundPolicy, TrustDomains } from "./contract.ts";
import { httpRbacFilters, networkRbacFilters } from "./rbac.ts";

const TD: TrustDomains = { trustDomain: "cluster.local", aliases: ["old.td"] };
const VIP = "10.96.0.1";
const BASE_PORT = 9200;
const ALICE = "spiffe://cluster.local/ns/a/sa/alice";

interface Req {
  identity?: string;
  source?: string;
  method?: string;
  path?: string;
  host?: string;
  headers?: [string, string][];
  /** The verdict: HTTP status (200 or 403), or for TCP "echo" / "closed". */
  want: number | "echo" | "closed";
}
interface Case {
  name: string;
  protocol: "http" | "tcp";
  policies: { spec: unknown; dryRun?: boolean }[];
  requests: Req[];
}

const cases: Case[] = [
  {
    name: "ALLOW principals: the identity of the PROXY TLV, its trust-domain alias; no identity is denied",
    protocol: "http",
    policies: [
      { spec: { rules: [{ from: [{ source: { principals: ["cluster.local/ns/a/sa/alice"] } }] }] } },
    ],
    requests: [
      { identity: ALICE, want: 200 },
      { identity: "spiffe://old.td/ns/a/sa/alice", want: 200 },
      { identity: "spiffe://cluster.local/ns/a/sa/bob", want: 403 },
      { want: 403 },
    ],
  },
  {
    name: "DENY before ALLOW: methods and a {**} template; everything else allowed",
    protocol: "http",
    policies: [
      {
        spec: {
          action: "DENY",
          rules: [{ to: [{ operation: { methods: ["POST"], paths: ["/admin/{**}"] } }] }],
        },
      },
      { spec: { rules: [{}] } },
    ],
    requests: [
      { method: "GET", path: "/admin/x", want: 200 },
      { method: "POST", path: "/admin/x/y?z=1", want: 403 },
      { method: "POST", path: "/admin/", want: 403 },
      { method: "POST", path: "/other", want: 200 },
    ],
  },
  {
    name: "ALLOW hosts (ignoring case) and a {*} template, notPaths",
    protocol: "http",
    policies: [
      {
        spec: {
          rules: [
            {
              to: [
                {
                  operation: {
                    hosts: ["httpbin.foo:8000"],
                    paths: ["/api/{*}/items"],
                    notPaths: ["/api/secret/*"],
                  },
                },
              ],
            },
          ],
        },
      },
    ],
    requests: [
      { path: "/api/v1/items", want: 200 },
      { path: "/api/v1/items", host: "HTTPBIN.foo:8000", want: 200 },
      { path: "/api/v1/items", host: "httpbin.foo", want: 403 },
      { path: "/api/v1/v2/items", want: 403 },
      { path: "/api/secret/items", want: 403 },
    ],
  },
  {
    name: "spec {} denies everything; a dry-run ALLOW enforces nothing",
    protocol: "http",
    policies: [{ spec: {} }, { spec: { rules: [{ to: [{ operation: { paths: ["/x"] } }] }] }, dryRun: true }],
    requests: [
      { path: "/x", want: 403 },
      { identity: ALICE, want: 403 },
    ],
  },
  {
    name: "a dry-run ALLOW alone enforces nothing",
    protocol: "http",
    policies: [{ spec: { rules: [{ to: [{ operation: { paths: ["/x"] } }] }] }, dryRun: true }],
    requests: [{ path: "/y", want: 200 }],
  },
  {
    name: "ipBlocks is the PROXY source, remoteIpBlocks the X-Forwarded-For client (one trusted hop)",
    protocol: "http",
    policies: [
      {
        spec: {
          rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/24"], notRemoteIpBlocks: ["1.2.3.4"] } }] }],
        },
      },
    ],
    requests: [
      { source: "10.0.0.7", want: 200 },
      { source: "10.0.1.7", want: 403 },
      { source: "10.0.0.7", headers: [["x-forwarded-for", "1.2.3.4"]], want: 403 },
      { source: "10.0.0.7", headers: [["x-forwarded-for", "5.6.7.8"]], want: 200 },
    ],
  },
  {
    name: "when: request.headers and source.namespace; notRequestPrincipals [*] denies requests without a JWT",
    protocol: "http",
    policies: [
      { spec: { action: "DENY", rules: [{ when: [{ key: "request.headers[x-block]", values: ["*"] }] }] } },
      {
        spec: {
          action: "DENY",
          rules: [
            {
              from: [{ source: { notRequestPrincipals: ["*"] } }],
              to: [{ operation: { paths: ["/private*"] } }],
            },
          ],
        },
      },
      { spec: { rules: [{ when: [{ key: "source.namespace", values: ["a"] }] }] } },
    ],
    requests: [
      { identity: ALICE, want: 200 },
      { identity: ALICE, headers: [["x-block", ""]], want: 403 },
      { identity: ALICE, path: "/private/x", want: 403 },
      { identity: "spiffe://cluster.local/ns/b/sa/alice", want: 403 },
    ],
  },
  {
    name: "CUSTOM without a provider denies what it matches",
    protocol: "http",
    policies: [
      {
        spec: {
          action: "CUSTOM",
          provider: { name: "ext" },
          rules: [{ to: [{ operation: { paths: ["/custom"] } }] }],
        },
      },
    ],
    requests: [
      { path: "/custom", want: 403 },
      { path: "/other", want: 200 },
    ],
  },
  {
    name: "TCP: an ALLOW rule with an HTTP-only field allows nothing",
    protocol: "tcp",
    policies: [{ spec: { rules: [{ to: [{ operation: { methods: ["GET"] } }] }] } }],
    requests: [{ identity: ALICE, want: "closed" }],
  },
  {
    name: "TCP: a DENY rule drops its HTTP-only field and keeps the port (another one here)",
    protocol: "tcp",
    policies: [
      { spec: { action: "DENY", rules: [{ to: [{ operation: { methods: ["GET"], ports: ["1"] } }] }] } },
    ],
    requests: [{ want: "echo" }],
  },
  {
    name: "TCP: a DENY rule whose only field is HTTP-only denies the port",
    protocol: "tcp",
    policies: [{ spec: { action: "DENY", rules: [{ to: [{ operation: { paths: ["/x"] } }] }] } }],
    requests: [{ want: "closed" }],
  },
  {
    name: "TCP: ALLOW principals and destination.port",
    protocol: "tcp",
    policies: [
      {
        spec: {
          rules: [
            {
              from: [{ source: { principals: ["*/ns/a/sa/alice"] } }],
              when: [{ key: "destination.port", values: [String(BASE_PORT + 11)] }],
            },
          ],
        },
      },
    ],
    requests: [
      { identity: ALICE, want: "echo" },
      { identity: "spiffe://cluster.local/ns/a/sa/bob", want: "closed" },
      { want: "closed" },
    ],
  },
];

const any = (type: string, body: Record<string, unknown>) => ({
  "@type": `type.googleapis.com/${type}`,
  ...body,
});

/** As the translator's listener does, with no filter state when the PROXY header has no TLV 0xD0. */
const identityFilter = {
  name: "proxy_protocol_authority",
  typed_config: any("envoy.extensions.filters.network.set_filter_state.v3.Config", {
    on_new_connection: [
      {
        object_key: PEER_PRINCIPAL_FILTER_STATE_KEY,
        factory_key: "envoy.string",
        skip_if_empty: true,
        format_string: {
          omit_empty_values: true,
          text_format_source: {
            inline_string: "%DYNAMIC_METADATA(envoy.filters.listener.proxy_protocol:peer_principal)%",
          },
        },
      },
    ],
  }),
};

const bound = (c: Case): BoundPolicy[] =>
  c.policies.map((p, i) => ({ namespace: "foo", name: `p${i}`, spec: p.spec, dryRun: p.dryRun ?? false }));

function chain(c: Case, i: number) {
  const filter_chain_match = { destination_port: BASE_PORT + i };
  if (c.protocol === "tcp") {
    const rbac = networkRbacFilters(bound(c), TD).filters;
    return {
      filter_chain_match,
      filters: [
        identityFilter,
        ...rbac,
        {
          name: "envoy.filters.network.tcp_proxy",
          typed_config: any("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
            stat_prefix: `case${i}`,
            cluster: "echo",
          }),
        },
      ],
    };
  }
  return { filter_chain_match, filters: httpChainFilters(httpRbacFilters(bound(c), TD).filters, `case${i}`) };
}

/** The network filters of an HTTP chain: the identity, then an HCM with these HTTP filters. */
function httpChainFilters(rbac: readonly HttpFilterJson[], statPrefix: string) {
  return [
    identityFilter,
    {
      name: "envoy.filters.network.http_connection_manager",
      typed_config: any("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
        stat_prefix: statPrefix,
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
          ...rbac,
          {
            name: "envoy.filters.http.router",
            typed_config: any("envoy.extensions.filters.http.router.v3.Router", {}),
          },
        ],
      }),
    },
  ];
}

/**
 * A PROXY v2 header (IPv4, TCP), written here rather than imported from @waymark/ztunnel-standin so
 * the translator does not take a dependency on the stand-in for one test.
 */
function proxyV2(source: string, dport: number, identity?: string): Buffer {
  const ip = (a: string) => Buffer.from(a.split(".").map(Number));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(40000, 0);
  ports.writeUInt16BE(dport, 2);
  const tlvs: Buffer[] = [];
  if (identity) {
    const head = Buffer.alloc(3);
    head.writeUInt8(0xd0, 0);
    head.writeUInt16BE(Buffer.byteLength(identity), 1);
    tlvs.push(head, Buffer.from(identity));
  }
  const body = Buffer.concat([ip(source), ip(VIP), ports, ...tlvs]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  return Buffer.concat([signature, Buffer.from([0x21, 0x11]), len, body]);
}

let envoy: EnvoyProc;
let echo: Server;
let port = 0;

before(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const echoPort = (echo.address() as { port: number }).port;
  port = await freePort();
  envoy = await startEnvoy({
    name: "rbac-builder",
    logDir: tempDir("rbac-builder-envoy"),
    bootstrap: {
      node: { id: "rbac-builder", cluster: "rbac-builder" },
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
        clusters: [
          {
            name: "echo",
            type: "STATIC",
            load_assignment: {
              cluster_name: "echo",
              endpoints: [
                {
                  lb_endpoints: [
                    {
                      endpoint: {
                        address: { socket_address: { address: "127.0.0.1", port_value: echoPort } },
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
});

after(async () => {
  await envoy?.stop();
  await new Promise((resolve) => echo?.close(resolve));
});

/** One HTTP/1.1 request behind a PROXY header; resolves with the status and the body. */
function sendHttp(dport: number, r: Req): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.write(proxyV2(r.source ?? "10.0.0.1", dport, r.identity));
      const headers = (r.headers ?? []).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      s.write(
        `${r.method ?? "GET"} ${r.path ?? "/"} HTTP/1.1\r\nhost: ${r.host ?? "httpbin.foo:8000"}\r\n${headers}connection: close\r\n\r\n`,
      );
    });
    let out = "";
    const done = () => {
      s.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
      resolve({ status, body: out.slice(out.indexOf("\r\n\r\n") + 4) });
    };
    // Done when the whole response is in (Envoy would only close after its delayed-close timeout).
    s.on("data", (d: Buffer) => {
      out += d.toString();
      const head = out.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(out.slice(0, head + 2));
      if (head >= 0 && length && out.length - head - 4 >= Number(length[1])) done();
    });
    s.on("end", done);
    s.on("error", reject);
  });
}

/** Bytes through a TCP chain: "echo" when they come back, "closed" when Envoy closes first. */
function sendTcp(dport: number, r: Req): Promise<"echo" | "closed"> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.write(Buffer.concat([proxyV2(r.source ?? "10.0.0.1", dport, r.identity), Buffer.from("ping")]));
    });
    let out = "";
    s.on("data", (d: Buffer) => {
      out += d.toString();
      if (out === "ping") {
        s.destroy();
        resolve("echo");
      }
    });
    s.on("close", () => resolve(out === "ping" ? "echo" : "closed"));
    s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve("closed") : reject(e)));
  });
}

describe("RBAC filters built from policies, enforced by a real Envoy", () => {
  cases.forEach((c, i) => {
    it(c.name, async () => {
      for (const r of c.requests) {
        const got =
          c.protocol === "http" ? (await sendHttp(BASE_PORT + i, r)).status : await sendTcp(BASE_PORT + i, r);
        assert.equal(got, r.want, `${c.name}: ${JSON.stringify(r)}`);
      }
    });
  });

  it("a denied request gets 403 with the body RBAC: access denied", async () => {
    const got = await sendHttp(BASE_PORT + 3, { want: 403 });
    assert.deepEqual(got, { status: 403, body: "RBAC: access denied" });
  });
});

// Envoy does not NACK a uri_template it cannot parse inside an RBAC filter: it crashes (seen with
// Envoy 1.40 on `/a//b/*`, `a/*`, `/a/**/*`). So every template the builder lets through must be
// one Envoy loads; random templates from a small alphabet, all that the builder accepts at once.
describe("path templates the builder accepts are templates Envoy loads", () => {
  it("random templates", async () => {
    const segment = fc.constantFrom("{*}", "{**}", "a", "b.c", "=", "%", "", "x*y", "{x}", "~", ":@", "v1");
    const candidates = fc.sample(
      fc
        .tuple(fc.boolean(), fc.array(segment, { minLength: 1, maxLength: 4 }))
        .map(([slash, segs]) => (slash ? "/" : "") + segs.join("/"))
        .filter((p) => p.includes("{*}") || p.includes("{**}")),
      { numRuns: 400, seed: 13 },
    );
    const accepted: string[] = [];
    const refused: string[] = [];
    for (const p of new Set(candidates)) {
      const policy: BoundPolicy = {
        namespace: "foo",
        name: "t",
        dryRun: false,
        spec: { rules: [{ to: [{ operation: { paths: [p] } }] }] },
      };
      const r = httpRbacFilters([policy], TD);
      (r.problems.length === 0 ? accepted : refused).push(p);
    }
    // The sample has both kinds, so the check below is about something.
    assert.ok(accepted.length > 20, `only ${accepted.length} accepted`);
    assert.ok(refused.length > 20, `only ${refused.length} refused`);
    const policies: BoundPolicy[] = accepted.map((p, i) => ({
      namespace: "foo",
      name: `t${i}`,
      dryRun: false,
      spec: { rules: [{ to: [{ operation: { paths: [p] } }] }] },
    }));
    const bootstrap = {
      static_resources: {
        listeners: [
          {
            name: "l",
            address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
            filter_chains: [
              { filters: httpChainFilters(httpRbacFilters(policies, TD).filters, "templates") },
            ],
          },
        ],
      },
    };
    const file = join(tempDir("rbac-templates"), "bootstrap.json");
    writeFileSync(file, JSON.stringify(bootstrap));
    const envoyBin = process.env["WAYMARK_ENVOY"];
    assert.ok(envoyBin, "WAYMARK_ENVOY is not set");
    await promisify(execFile)(
      envoyBin,
      ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"],
      {
        timeout: 60_000,
      },
    );
  });
});
