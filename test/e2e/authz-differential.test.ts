// Issue 13's differential test: generated AuthorizationPolicy sets × generated requests go through
// a real waypoint Envoy configured by Waymark, and Envoy's verdict must equal the reference model's
// (@waymark/authz-model `evaluate`) on every pair. See docs/design/authorization.md §9.
//
// - The stack is the guide's (startGuideStack): Gateway `kgateway-waypoint` in `httpbin`, Services
//   httpbin2/httpbin3 (VIPs 10.96.0.12/13, port 8000). The model's generators draw policies for the
//   Gateway `waypoint` in `foo`; they are retargeted here onto the guide's names, each policy bound to
//   the Gateway, to one of the Services, or (from `istio-system`) to the GatewayClass, and the model
//   only evaluates the policies `boundTo` the chain a request reaches.
// - Requests do not go through the stand-in process (its identity is fixed): test/lib/proxy-client.ts
//   opens a connection to the waypoint's PROXY listener and sends the stand-in's wire format itself,
//   per request: the source address, the service VIP and port, TLV 0xD0 with the peer's SPIFFE URI
//   (or none), then the HTTP/1.1 request.
// - remoteIp is sent as one X-Forwarded-For address, so the translator runs with
//   WAYMARK_XFF_TRUSTED_HOPS=1; trust domain alias `old.example` (WAYMARK_TRUST_DOMAIN_ALIASES).
// - JWTs: one RequestAuthentication trusts the model's two issuers (inline JWKS, RS256 and ES256);
//   requests carry a valid token signed with the generated claims, or none (a 401 is a mismatch).
// - Each policy set is written to one file; the test waits until the waypoint ACKed a new version of
//   every type, then until a marker DENY policy of the set (a header no generated request sends) is
//   enforced, and only then sends the set's requests.
// - Verdicts: `403 RBAC: access denied` is deny; any other answer from the route is allow.
//
// Counts: WAYMARK_AUTHZ_PAIRS (default 200, CI; long mode `pnpm test:authz-diff` runs 2,000) policy
// set × request pairs, WAYMARK_AUTHZ_REQUESTS_PER_SET (default 10) requests per set. Replay a run with
// WAYMARK_AUTHZ_SEED=<seed printed by the test>. A mismatch fails the run at its policy set (fast-check
// prints the set and the requests; the test prints the YAML and both verdicts); WAYMARK_AUTHZ_SHRINK=1
// lets fast-check shrink it (slow: each step reconfigures Envoy), WAYMARK_AUTHZ_KEEP_GOING=1 runs every
// set and lists all mismatches at the end.
//
// Not covered yet: TCP chains (the guide has only HTTP services), SNI (no TLS client), CUSTOM.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import {
  type AuthorizationPolicy,
  arbitraries,
  boundTo,
  type EvaluateOptions,
  evaluate,
  type Request,
  type Verdict,
} from "@waymark/authz-model";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { createIssuer, type TestIssuer, waitFor } from "@waymark/testing";
import fc from "fast-check";
import { stringify } from "yaml";
import { GUIDE_WAYPOINT, type GuideStack, randomLoopback, startGuideStack } from "../lib/guide-stack.ts";
import {
  type ProxiedHttpResult,
  proxiedBytes,
  proxiedHttp,
  type WaypointAddress,
} from "../lib/proxy-client.ts";

const PAIRS = Number(process.env["WAYMARK_AUTHZ_PAIRS"] ?? 200);
const PER_SET = Number(process.env["WAYMARK_AUTHZ_REQUESTS_PER_SET"] ?? 10);
const SETS = Math.ceil(PAIRS / PER_SET);
const SEED = process.env["WAYMARK_AUTHZ_SEED"]
  ? Number(process.env["WAYMARK_AUTHZ_SEED"])
  : Date.now() % 2 ** 31;
const SHRINK = process.env["WAYMARK_AUTHZ_SHRINK"] === "1";
const KEEP_GOING = process.env["WAYMARK_AUTHZ_KEEP_GOING"] === "1";

const NS = GUIDE_WAYPOINT.namespace;
const ROOT_NS = "istio-system";
// The guide's HTTP services, and a TCP service this test adds (a Service port named `tcp`, which the
// translator proxies as plain TCP: translate/input/protocol.ts) in front of an echo server.
const SERVICES = { "10.96.0.12": "httpbin2", "10.96.0.13": "httpbin3", "10.96.0.14": "echo" } as const;
type Vip = keyof typeof SERVICES;
const TCP_VIP = "10.96.0.14";
const TCP_PORT = 9000;
const TCP_PAYLOAD = Buffer.from("ping\n");
// The model's destination pool (10.96.0.10, 10.96.0.20) onto the guide's VIPs; every guide port is 8000.
const VIP_OF: Record<string, Vip> = { "10.96.0.10": "10.96.0.12", "10.96.0.20": "10.96.0.13" };
const OPTIONS: EvaluateOptions = { trustDomainAliases: ["old.example"] };
const POLICY_FILE = "60-authz-differential.yaml";
const MARKER_HEADER = "x-diff-marker";

// --- generation: the model's arbitraries, retargeted onto the guide ---

const gatewayRef = { group: "gateway.networking.k8s.io", kind: "Gateway", name: GUIDE_WAYPOINT.name };
const bindingArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ namespace: NS, ref: gatewayRef }) },
  ...Object.values(SERVICES).map((name) => ({
    weight: 1,
    arbitrary: fc.constant({ namespace: NS, ref: { group: "", kind: "Service", name } }),
  })),
  {
    weight: 1,
    arbitrary: fc.constant({
      namespace: ROOT_NS,
      ref: { group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "kgateway-waypoint" },
    }),
  },
);

const boundSetArb: fc.Arbitrary<AuthorizationPolicy[]> = arbitraries
  .policies({ namespace: NS })
  .chain((ps) =>
    ps.length === 0
      ? fc.constant([])
      : fc.tuple(...ps.map(() => bindingArb)).map((bindings) =>
          ps.map((p, i) => ({
            metadata: { ...p.metadata, namespace: bindings[i]!.namespace },
            spec: { ...p.spec, targetRefs: [bindings[i]!.ref] },
          })),
        ),
  );

/**
 * Half of the sets also get a DENY twin of one of their ALLOW policies (same rules, same binding), so
 * that many requests match an ALLOW and a DENY at once and the test sees which one wins. Independent
 * pools rarely produce that overlap: without the twins, a translator where an ALLOW match skipped
 * the DENY filter passed 200 pairs.
 */
const policySetArb: fc.Arbitrary<AuthorizationPolicy[]> = fc
  .tuple(boundSetArb, fc.boolean(), fc.nat())
  .map(([ps, twin, pick]) => {
    const allows = ps.filter(
      (p) => (p.spec.action ?? "ALLOW") === "ALLOW" && (p.spec.rules?.length ?? 0) > 0,
    );
    const original = allows[pick % Math.max(1, allows.length)];
    if (!twin || !original) return ps;
    const copy = structuredClone(original);
    return [
      ...ps,
      {
        ...copy,
        metadata: { ...copy.metadata, name: `${copy.metadata.name}-deny-twin` },
        spec: { ...copy.spec, action: "DENY" },
      },
    ];
  });

// The PROXY source must be of the VIP's family: an IPv6 source with an IPv4 VIP makes an IPv6 header
// whose destination (::ffff:10.96.0.12) no chain matches, which ztunnel never sends. The pool's IPv6
// source becomes an IPv4 address outside the pool's narrower CIDRs (X-Forwarded-For keeps IPv6).
const V4_SOURCE_FOR_V6 = "10.0.2.9";
const requestArb: fc.Arbitrary<Request> = arbitraries.request().map((r) => {
  const { sni: _sni, ...rest } = r;
  const tcp = r.protocol === "tcp";
  return {
    ...rest,
    sourceIp: r.sourceIp.includes(":") ? V4_SOURCE_FOR_V6 : r.sourceIp,
    destinationIp: tcp ? TCP_VIP : (VIP_OF[r.destinationIp] ?? "10.96.0.12"),
    destinationPort: tcp ? TCP_PORT : 8000,
  };
});

/**
 * A DENY policy that only the set's own probe matches: enforced means the set is live in Envoy. It is
 * bound to httpbin2 alone: on the TCP chain its HTTP-only condition would be dropped (Istio's rule for
 * DENY) and it would deny every connection.
 */
function marker(id: string): AuthorizationPolicy {
  return {
    metadata: { name: "zz-diff-marker", namespace: NS },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "httpbin2" }],
      action: "DENY",
      rules: [{ when: [{ key: `request.headers[${MARKER_HEADER}]`, values: [id] }] }],
    },
  };
}

function echoServiceYaml(port: number): string {
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "echo", namespace: NS, labels: { "istio.io/use-waypoint": GUIDE_WAYPOINT.name } },
    spec: {
      clusterIP: TCP_VIP,
      ports: [{ name: "tcp", port: TCP_PORT, targetPort: TCP_PORT, protocol: "TCP" }],
      selector: { app: "echo" },
    },
  };
  const slice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "echo-local", namespace: NS, labels: { "kubernetes.io/service-name": "echo" } },
    addressType: "IPv4",
    ports: [{ name: "tcp", port, protocol: "TCP" }],
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
  };
  // The root namespace, where the GatewayClass-bound policies live, exists as on a cluster.
  const root = { apiVersion: "v1", kind: "Namespace", metadata: { name: ROOT_NS } };
  return [service, slice, root].map((d) => stringify(d)).join("---\n");
}

const toYaml = (ps: AuthorizationPolicy[]) =>
  ps
    .map((p) => stringify({ apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", ...p }))
    .join("---\n");

// --- verdicts ---

type EnvoyVerdict = "allow" | "deny" | `unexpected: ${string}`;

/** TCP: the echo came back (allow), or the connection was closed with nothing (deny). */
function tcpVerdict(got: Buffer): EnvoyVerdict {
  if (got.length === 0) return "deny";
  if (got.equals(TCP_PAYLOAD)) return "allow";
  return `unexpected: ${JSON.stringify(got.toString("latin1").slice(0, 200))}`;
}

function envoyVerdict(r: ProxiedHttpResult): EnvoyVerdict {
  if (r.kind === "closed") return `unexpected: connection closed without an answer (${r.raw.length} bytes)`;
  if (r.status === 403 && r.body === "RBAC: access denied") return "deny";
  if (r.status === 401 || r.status === 403 || r.status >= 500)
    return `unexpected: ${r.status} ${r.body.slice(0, 200)}`;
  return "allow";
}

interface Mismatch {
  set: number;
  yaml: string;
  request: Request;
  model: Verdict;
  envoy: EnvoyVerdict;
}

function describeMismatch(m: Mismatch): string {
  return [
    `--- set ${m.set} (seed ${SEED}): the policies`,
    m.yaml || "(none)",
    "--- the request (model form)",
    JSON.stringify(m.request),
    `--- model: ${JSON.stringify(m.model)}`,
    `--- envoy: ${m.envoy}`,
  ].join("\n");
}

describe("authorization: the reference model and a real Envoy agree", { timeout: 30 * 60_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let proxiesKv: KV;
  let waypoint: WaypointAddress;
  let echo: Server | undefined;
  const issuers = new Map<string, TestIssuer>();
  const tokens = new Map<string, string>();

  before(async () => {
    const [first, second] = arbitraries.POOLS.issuers;
    issuers.set(first, await createIssuer(first, "RS256"));
    issuers.set(second, await createIssuer(second, "ES256"));
    const bindAddress = randomLoopback();
    waypoint = { host: bindAddress, port: 15088 };
    guide = await startGuideStack("e2e-authz-differential", {
      bindAddress,
      serviceEnv: { WAYMARK_XFF_TRUSTED_HOPS: "1", WAYMARK_TRUST_DOMAIN_ALIASES: "old.example" },
    });
    writeFileSync(
      join(guide.dir, "55-request-authentication.yaml"),
      stringify({
        apiVersion: "security.istio.io/v1",
        kind: "RequestAuthentication",
        metadata: { name: "diff-jwt", namespace: NS },
        spec: {
          targetRefs: [gatewayRef],
          jwtRules: [...issuers.values()].map((i) => ({ issuer: i.issuer, jwks: JSON.stringify(i.jwks) })),
        },
      }),
    );
    const server = createServer((s) => {
      s.on("error", () => {});
      s.once("data", (d: Buffer) => s.end(d)); // answer once and close: the client reads to the close
    });
    echo = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    writeFileSync(
      join(guide.dir, "56-echo-tcp.yaml"),
      echoServiceYaml((server.address() as AddressInfo).port),
    );
    await waitFor("the TCP chain echoes", async () => {
      const v = await send({
        protocol: "tcp",
        sourceIp: "10.0.0.1",
        destinationIp: TCP_VIP,
        destinationPort: TCP_PORT,
      });
      return v === "allow";
    });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}; seed ${SEED}; ${SETS} sets × ${PER_SET} requests`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
    await new Promise((resolve) => (echo ? echo.close(resolve) : resolve(undefined)));
  });

  const record = async () => {
    for (const k of await listKeys(proxiesKv)) {
      const r = await getJson<ProxyRecord>(proxiesKv, k);
      if (r?.waypoint?.name === GUIDE_WAYPOINT.name && r.waypoint.namespace === NS) return r;
    }
    return undefined;
  };
  const ackedVersions = (r: ProxyRecord | undefined) =>
    JSON.stringify(Object.entries(r?.types ?? {}).map(([t, s]) => [t, s.ackedVersion]));

  async function token(jwt: NonNullable<Request["jwt"]>): Promise<string> {
    const key = JSON.stringify(jwt);
    let t = tokens.get(key);
    if (!t) {
      const claims: Record<string, unknown> = { ...jwt.claims, sub: jwt.sub, aud: jwt.aud };
      if (jwt.azp !== undefined) claims["azp"] = jwt.azp;
      t = await issuers.get(jwt.iss)!.sign(claims);
      tokens.set(key, t);
    }
    return t;
  }

  async function send(r: Request, extra: [string, string][] = []): Promise<EnvoyVerdict> {
    const proxy = {
      source: { address: r.sourceIp },
      destination: { address: r.destinationIp, port: r.destinationPort },
      ...(r.peerPrincipal === undefined ? {} : { identity: r.peerPrincipal }),
    };
    if (r.protocol === "tcp") return tcpVerdict(await proxiedBytes(waypoint, proxy, TCP_PAYLOAD));
    const headers: [string, string][] = [];
    for (const [k, v] of Object.entries(r.headers ?? {}))
      for (const one of Array.isArray(v) ? v : [v]) headers.push([k, one]);
    if (r.remoteIp !== undefined) headers.push(["x-forwarded-for", r.remoteIp]);
    if (r.jwt) headers.push(["authorization", `Bearer ${await token(r.jwt)}`]);
    headers.push(...extra);
    const res = await proxiedHttp(waypoint, {
      ...proxy,
      method: r.method ?? "GET",
      path: r.path ?? "/",
      host: r.host ?? "httpbin2:8000",
      headers,
    });
    return envoyVerdict(res);
  }

  /** Writes the set with its marker and waits until Envoy enforces it. */
  async function apply(set: number, policies: AuthorizationPolicy[]): Promise<AuthorizationPolicy> {
    const id = `set-${set}`;
    const mark = marker(id);
    const before = ackedVersions(await record());
    // Written in place: a file renamed over the old one is not always seen by the watcher's
    // recursive fs.watch (it then waits for its 10 s rescan). A half-written file cannot pass for the
    // set: the marker, which the wait below needs, is its last document.
    writeFileSync(join(guide.dir, POLICY_FILE), toYaml([...policies, mark]));
    await waitFor(`set ${set}: the waypoint ACKed a new version of every type`, async () => {
      const r = await record();
      if (!r || ackedVersions(r) === before) return false;
      const types = Object.entries(r.types);
      const nacked = types.find(
        ([, s]) => s.nackedVersion !== undefined && s.nackedVersion === s.sentVersion,
      );
      if (nacked) throw new Error(`${nacked[0]} NACKed: ${nacked[1].nackMessage}`);
      return types.every(([, s]) => s.sentVersion === s.ackedVersion);
    });
    const probe: Request = {
      protocol: "http",
      sourceIp: "10.0.0.1",
      destinationIp: "10.96.0.12",
      destinationPort: 8000,
      method: "GET",
      path: "/",
      host: "httpbin2:8000",
    };
    await waitFor(`set ${set}: the marker policy denies its probe`, async () => {
      return (await send(probe, [[MARKER_HEADER, id]])) === "deny";
    });
    return mark;
  }

  test(`${PAIRS} generated (policy set, request) pairs through Envoy`, async () => {
    const mismatches: Mismatch[] = [];
    const seen = { allow: 0, deny: 0 };
    const tcp = { allow: 0, deny: 0 };
    let set = 0;
    await fc.assert(
      fc.asyncProperty(
        policySetArb,
        fc.array(requestArb, { minLength: PER_SET, maxLength: PER_SET }),
        async (policies, requests) => {
          set++;
          const mark = await apply(set, policies);
          const yaml = toYaml(policies);
          const results = await Promise.all(requests.map((r) => send(r)));
          const found: Mismatch[] = [];
          requests.forEach((request, i) => {
            const service = SERVICES[request.destinationIp as Vip];
            // The marker too: a DENY no generated request matches, so the model must agree it is inert.
            const bound = [...policies, mark].filter((p) =>
              boundTo(
                p,
                {
                  gateway: { ...GUIDE_WAYPOINT, gatewayClassName: "kgateway-waypoint" },
                  service: { kind: "Service", name: service, namespace: NS },
                  rootNamespace: ROOT_NS,
                },
                OPTIONS,
              ),
            );
            const model = evaluate(bound, request, OPTIONS);
            const envoy = results[i]!;
            if (envoy === "allow" || envoy === "deny") {
              seen[envoy]++;
              if (request.protocol === "tcp") tcp[envoy]++;
            }
            if (envoy !== model.decision) found.push({ set, yaml, request, model, envoy });
          });
          for (const m of found) console.log(describeMismatch(m));
          mismatches.push(...found);
          return KEEP_GOING || found.length === 0;
        },
      ),
      { numRuns: SETS, seed: SEED, endOnFailure: !SHRINK },
    );
    console.log(
      `verdicts: ${seen.allow} allowed, ${seen.deny} denied (TCP: ${tcp.allow}, ${tcp.deny}), ${mismatches.length} mismatches`,
    );
    assert.equal(mismatches.length, 0, mismatches.map(describeMismatch).join("\n\n"));
    // Guards against a vacuous run: the pools make both verdicts common, on HTTP and on TCP.
    assert.ok(seen.allow > 0 && seen.deny > 0, `both verdicts seen: ${JSON.stringify(seen)}`);
    if (PAIRS >= 200)
      assert.ok(tcp.allow > 0 && tcp.deny > 0, `both TCP verdicts seen: ${JSON.stringify(tcp)}`);
  });
});
