// fast-check generators of policy sets and requests for property tests and the differential test
// through Envoy. Values come from small shared pools, so a generated rule often matches a generated
// request and often does not; wildcard, template and `not` forms are drawn from the same pools.
import fc from "fast-check";
import type {
  Action,
  AuthorizationPolicy,
  Condition,
  EvaluateOptions,
  Operation,
  Request,
  Rule,
  Source,
  ValidatedJwt,
} from "./types.ts";

export const POOLS = {
  trustDomains: ["cluster.local", "old.example"],
  namespaces: ["default", "foo", "bar"],
  serviceAccounts: ["sleep", "httpbin", "admin"],
  sourceIps: ["10.0.0.1", "10.0.1.5", "192.168.1.7", "fd00::1"],
  destinationIps: ["10.96.0.10", "10.96.0.20"],
  ports: [8000, 9000, 80],
  methods: ["GET", "POST", "PUT", "DELETE"],
  paths: ["/", "/info", "/info/a", "/data", "/api/v1/users", "/api/v2/users/1", "/admin?debug=1", "/Info"],
  hosts: ["httpbin2:8000", "httpbin2", "HTTPBIN3.foo.svc.cluster.local", "example.com"],
  headerNames: ["x-user", "x-tier"],
  headerValues: ["alice", "bob", "gold", ""],
  issuers: ["https://issuer.example", "https://other.example/realm"],
  subjects: ["alice", "bob"],
  audiences: ["web", "api"],
  groups: ["admin", "dev"],
  snis: ["httpbin2.example", "other.example"],
  providers: ["ext-a", "ext-b"],
} as const;

const P = POOLS;
// Skewed towards each pool's first value, so that policies and requests often pick the same one.
const pick = <T>(xs: readonly T[]) =>
  xs.length < 2 ? fc.constantFrom(...xs) : fc.oneof(fc.constant(xs[0]!), fc.constantFrom(...xs));

// --- value patterns, each pool mixing exact values, wildcards and near misses ---

const principalValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(pick(P.trustDomains), pick(P.namespaces), pick(P.serviceAccounts))
      .map(([t, n, s]) => `${t}/ns/${n}/sa/${s}`),
  },
  {
    weight: 1,
    arbitrary: pick([
      "*",
      "*/ns/foo/sa/sleep",
      "cluster.local/ns/foo/*",
      "*/sa/admin",
      "spiffe://cluster.local/ns/foo/sa/sleep",
    ]),
  },
);
const namespaceValue = fc.oneof(
  { weight: 4, arbitrary: pick(P.namespaces) },
  { weight: 1, arbitrary: pick(["*", "f*", "*ar", "d*t"]) },
);
const serviceAccountValue = fc.oneof(
  pick(P.serviceAccounts),
  fc.tuple(pick(P.namespaces), pick(P.serviceAccounts)).map(([n, s]) => `${n}/${s}`),
);
const trustDomainValue = pick([...P.trustDomains, "*", "*.local", "old*"]);
const cidrValue = pick([
  "10.0.0.0/24",
  "10.0.0.1",
  "10.0.0.0/8",
  "192.168.0.0/16",
  "fd00::/64",
  "0.0.0.0/0",
  "10.0.1.5/32",
]);
const requestPrincipalValue = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(pick(P.issuers), pick(P.subjects)).map(([i, s]) => `${i}/${s}`) },
  {
    weight: 1,
    arbitrary: pick(["*", "*/alice", "https://issuer.example/*", "*realm/bob", "https://other*"]),
  },
);
const hostValue = fc.oneof(
  { weight: 3, arbitrary: pick(P.hosts) },
  { weight: 1, arbitrary: pick(["*", "*.cluster.local", "httpbin*", "Example.COM"]) },
);
const methodValue = fc.oneof(
  { weight: 4, arbitrary: pick(P.methods) },
  { weight: 1, arbitrary: pick(["G*", "*T", "get"]) },
);
const pathValue = fc.oneof(
  { weight: 3, arbitrary: pick(P.paths.map((p) => p.replace(/\?.*/, ""))) },
  {
    weight: 2,
    arbitrary: pick([
      "/info*",
      "*users",
      "*",
      "/api/*",
      "/api/{*}/users",
      "/api/{**}",
      "/{*}",
      "/info/{*}",
      "/{**}",
    ]),
  },
);
const portValue = pick(P.ports.map(String));
const headerValue = fc.oneof(
  { weight: 3, arbitrary: pick(P.headerValues.filter((v) => v !== "")) },
  { weight: 1, arbitrary: pick(["*", "al*", "*ld"]) },
);
const claimValue = fc.oneof(pick(P.groups), pick(["*", "ad*", "read", "write"]));

/** Values istiod's admission rejects, for the fail-closed properties (off by default). */
const invalidValue = {
  ip: pick(["10.0.0.0/33", "10.0.0.256", "not-an-ip"]),
  port: pick(["70000", "http", "-1"]),
  path: pick(["/a/{**}/b", "/a{*}", "/x/{*}/{**}/{*}"]),
};

const list = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 2 });

export interface PolicyShape {
  /** Actions to draw from (default all but CUSTOM, which needs an ext_authz server). */
  actions?: readonly Action[];
  /** Include values istiod's admission rejects (bad CIDR, port, template). */
  invalidValues?: boolean;
  /** Namespace of the policies (default `foo`, the namespace of the target service). */
  namespace?: string;
  /** Only fields a TCP chain can express (for policies meant to allow TCP connections too). */
  l4Only?: boolean;
}

function fieldPairs<T extends object>(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<T> {
  const keys = Object.keys(fields);
  // Mostly one field per entry, so that entries match often enough.
  const count = fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) });
  return count
    .chain((n) =>
      fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), fc.boolean(), fc.integer({ min: 0, max: 5 })), {
        minLength: Math.min(n, keys.length),
        maxLength: Math.min(n, keys.length),
        selector: ([k]) => k,
      }),
    )
    .chain((chosen) =>
      fc
        .tuple(...chosen.map(([k, not, both]) => list(fields[k]!).map((vs) => [k, not, both, vs] as const)))
        .chain((withValues) =>
          fc.tuple(...withValues.map(([k]) => list(fields[k]!))).map((second) => {
            const out: Record<string, string[]> = {};
            withValues.forEach(([k, not, both, vs], i) => {
              const notKey = `not${k[0]!.toUpperCase()}${k.slice(1)}`;
              out[not ? notKey : k] = vs;
              // Sometimes both the field and its `not` form.
              if (both === 0) out[not ? k : notKey] = second[i]!;
            });
            return out as T;
          }),
        ),
    );
}

// CUSTOM rules may only test addresses, operations and non-identity `when` keys (admission:
// "... is currently not supported with CUSTOM action").
function sourceArb(s: PolicyShape, custom: boolean): fc.Arbitrary<Source> {
  const ip = s.invalidValues
    ? fc.oneof({ weight: 5, arbitrary: cidrValue }, { weight: 1, arbitrary: invalidValue.ip })
    : cidrValue;
  if (custom) return fieldPairs<Source>({ ipBlocks: ip, remoteIpBlocks: ip });
  const rp: Record<string, fc.Arbitrary<string>> = s.l4Only
    ? {}
    : { requestPrincipals: requestPrincipalValue };
  return fieldPairs<Source>({
    principals: principalValue,
    ...rp,
    namespaces: namespaceValue,
    ipBlocks: ip,
    remoteIpBlocks: ip,
  }).chain((src) =>
    // serviceAccounts may not be combined with principals or namespaces (admission), so it is drawn
    // only into sources without them.
    src.principals || src.notPrincipals || src.namespaces || src.notNamespaces
      ? fc.constant(src)
      : fc.option(list(serviceAccountValue), { freq: 4 }).chain((sa) =>
          fc.option(list(trustDomainValue), { freq: 4 }).map((td) => ({
            ...src,
            ...(sa ? { serviceAccounts: sa } : {}),
            ...(td ? { trustDomains: td } : {}),
          })),
        ),
  );
}

function operationArb(s: PolicyShape): fc.Arbitrary<Operation> {
  const ports = s.invalidValues
    ? fc.oneof({ weight: 5, arbitrary: portValue }, { weight: 1, arbitrary: invalidValue.port })
    : portValue;
  if (s.l4Only) return fieldPairs<Operation>({ ports });
  return fieldPairs<Operation>({
    hosts: hostValue,
    ports,
    methods: methodValue,
    paths: s.invalidValues
      ? fc.oneof({ weight: 5, arbitrary: pathValue }, { weight: 1, arbitrary: invalidValue.path })
      : pathValue,
  });
}

function conditionArb(s: PolicyShape, custom: boolean): fc.Arbitrary<Condition> {
  let keyed: [string, fc.Arbitrary<string>][] = [
    ...P.headerNames.map((h) => [`request.headers[${h}]`, headerValue] as [string, fc.Arbitrary<string>]),
    ["source.ip", cidrValue],
    ["remote.ip", cidrValue],
    ["source.namespace", namespaceValue],
    ["source.principal", principalValue],
    ["request.auth.principal", requestPrincipalValue],
    ["request.auth.audiences", fc.oneof(pick(P.audiences), pick(["*", "w*"]))],
    ["request.auth.presenter", pick(["web-client", "cli", "*"])],
    ["request.auth.claims[groups]", claimValue],
    ["request.auth.claims[scope]", pick(["read", "write", "admin"])],
    ["request.auth.claims[role][level]", pick(["high", "low"])],
    ["destination.ip", cidrValue.map((v) => (v.startsWith("10.0") ? "10.96.0.0/24" : v))],
    ["destination.port", portValue],
    ["connection.sni", fc.oneof(pick(P.snis), pick(["*.example", "*"]))],
  ];
  if (s.invalidValues) keyed.push(["source.ip", invalidValue.ip], ["destination.port", invalidValue.port]);
  if (s.l4Only) keyed = keyed.filter(([k]) => !k.startsWith("request."));
  if (custom)
    keyed = keyed.filter(
      ([k]) => !/^source\.(namespace|principal)$/.test(k) && !k.startsWith("request.auth."),
    );
  return fc.constantFrom(...keyed).chain(([key, value]) =>
    fc.tuple(fc.integer({ min: 0, max: 2 }), list(value), list(value)).map(([form, a, b]) => {
      if (form === 0) return { key, values: a };
      if (form === 1) return { key, notValues: a };
      return { key, values: a, notValues: b };
    }),
  );
}

function ruleArb(s: PolicyShape, custom: boolean): fc.Arbitrary<Rule> {
  return fc
    .record(
      {
        from: fc.array(fc.record({ source: sourceArb(s, custom) }), { minLength: 1, maxLength: 2 }),
        to: fc.array(fc.record({ operation: operationArb(s) }), { minLength: 1, maxLength: 2 }),
        when: fc.oneof(
          { weight: 3, arbitrary: fc.array(conditionArb(s, custom), { minLength: 1, maxLength: 1 }) },
          { weight: 1, arbitrary: fc.array(conditionArb(s, custom), { minLength: 2, maxLength: 2 }) },
        ),
      },
      { requiredKeys: [] },
    )
    .map((r) => r as Rule);
}

/** One policy targeting the Gateway `waypoint` (so `boundTo` holds for a chain of that waypoint). */
export function policy(shape: PolicyShape = {}, name = "p0"): fc.Arbitrary<AuthorizationPolicy> {
  const actions = shape.actions ?? (["ALLOW", "DENY", "AUDIT"] as const);
  return fc.constantFrom(...actions).chain((action) =>
    fc
      .record({
        // No rules (`spec: {}`, only meaningful for ALLOW), one or two rules; `rules: [{}]` comes
        // from a rule whose optional keys were all left out.
        rules: fc.oneof(
          { weight: 1, arbitrary: fc.constant(undefined) },
          {
            weight: 8,
            arbitrary: fc.array(ruleArb(shape, action === "CUSTOM"), { minLength: 1, maxLength: 2 }),
          },
        ),
        provider: pick(P.providers),
      })
      .map(({ rules, provider }) => ({
        metadata: { name, namespace: shape.namespace ?? "foo" },
        spec: {
          targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }],
          ...(action === "ALLOW" ? {} : { action }),
          ...(action === "CUSTOM" ? { provider: { name: provider } } : {}),
          // DENY, AUDIT and CUSTOM need rules to pass admission.
          ...(rules || action !== "ALLOW" ? { rules: rules ?? [{}] } : {}),
        },
      })),
  );
}

/** Zero to four policies with distinct names. */
export function policies(shape: PolicyShape = {}, maxLength = 4): fc.Arbitrary<AuthorizationPolicy[]> {
  return fc
    .integer({ min: 0, max: maxLength })
    .chain((n) =>
      n === 0 ? fc.constant([]) : fc.tuple(...Array.from({ length: n }, (_, i) => policy(shape, `p${i}`))),
    );
}

const jwtArb: fc.Arbitrary<ValidatedJwt> = fc
  .record({
    iss: pick(P.issuers),
    sub: pick(P.subjects),
    aud: fc.subarray([...P.audiences]),
    azp: fc.option(pick(["web-client", "cli"]), { nil: undefined }),
    groups: fc.option(fc.oneof(fc.subarray([...P.groups]), pick(P.groups)), { nil: undefined }),
    scope: fc.option(pick(["read", "read write", "admin"]), { nil: undefined }),
    level: fc.option(pick(["high", "low"]), { nil: undefined }),
  })
  .map(({ iss, sub, aud, azp, groups, scope, level }) => {
    const claims: Record<string, unknown> = {};
    if (groups !== undefined) claims["groups"] = groups;
    if (scope !== undefined) claims["scope"] = scope;
    if (level !== undefined) claims["role"] = { level };
    return { iss, sub, aud, ...(azp ? { azp } : {}), claims };
  });

export interface RequestShape {
  protocols?: readonly Request["protocol"][];
}

/** A request as it reaches the waypoint (HTTP or TCP), from the same pools. */
export function request(shape: RequestShape = {}): fc.Arbitrary<Request> {
  return fc
    .record({
      protocol: fc.constantFrom(...(shape.protocols ?? (["http", "http", "http", "tcp"] as const))),
      peer: fc.option(fc.tuple(pick(P.trustDomains), pick(P.namespaces), pick(P.serviceAccounts)), {
        freq: 6,
      }),
      sourceIp: pick(P.sourceIps),
      remoteIp: fc.option(pick(P.sourceIps), { nil: undefined }),
      destinationIp: pick(P.destinationIps),
      destinationPort: pick(P.ports),
      sni: fc.option(pick(P.snis), { nil: undefined, freq: 3 }),
      method: pick(P.methods),
      path: pick(P.paths),
      host: pick(P.hosts),
      headers: fc.dictionary(pick(P.headerNames), pick(P.headerValues), { maxKeys: 2 }),
      jwt: fc.option(jwtArb, { nil: undefined, freq: 2 }),
    })
    .map(({ protocol, peer, remoteIp, sni, method, path, host, headers, jwt, ...rest }) => {
      const r: Request = { protocol, ...rest };
      if (peer) r.peerPrincipal = `spiffe://${peer[0]}/ns/${peer[1]}/sa/${peer[2]}`;
      if (sni !== undefined) r.sni = sni;
      if (protocol === "http") {
        Object.assign(r, { method, path, host, headers });
        if (remoteIp !== undefined) r.remoteIp = remoteIp;
        if (jwt !== undefined) r.jwt = jwt;
      }
      return r;
    });
}

/** Evaluation options: the default trust domain, or the pool's second one as an alias. */
export const evaluateOptions: fc.Arbitrary<EvaluateOptions> = fc.record({
  trustDomainAliases: fc.constantFrom<string[]>([], ["old.example"]),
  customVerdicts: fc.record({
    "ext-a": pick(["allow", "deny"] as const),
    "ext-b": pick(["allow", "deny"] as const),
  }),
});
