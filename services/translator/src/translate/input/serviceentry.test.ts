// ServiceEntry reading (input/serviceentry.ts), and the whole translation's answer to the addresses
// Istio allocates after the object was created (kgateway#14390), with and without a memo.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import { GOLDEN_SETTINGS } from "../golden-cases.ts";
import { TranslationMemo, translate } from "../index.ts";
import { entryAddresses, readServiceEntry } from "./serviceentry.ts";

function entry(spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: "ext", namespace: "ns", labels: { "istio.io/use-waypoint": "waypoint" } },
    spec,
    ...(status ? { status } : {}),
  } as KubeObject;
}

const HTTP = { number: 80, name: "http", protocol: "HTTP" };

describe("readServiceEntry", () => {
  test("VIPs: spec.addresses (IPs and CIDRs, a full-length prefix as the IP), invalid ones dropped", () => {
    const s = readServiceEntry(
      entry({
        hosts: ["a.example.com"],
        addresses: ["240.0.0.1", "10.0.0.0/8", "2001:db8::1/128", "bogus", "10.0.0.0/33"],
        ports: [HTTP],
        resolution: "STATIC",
      }),
    );
    assert.deepEqual(s.vips, ["240.0.0.1", "10.0.0.0/8", "2001:db8::1"]);
    assert.equal(s.entry?.addressesFrom, "spec");
    assert.equal(s.entry?.unusable, undefined);
  });

  test("VIPs are canonical: a CIDR as its network address, IPv6 in RFC 5952 form, duplicates merged", () => {
    const s = readServiceEntry(
      entry({
        hosts: ["a.example.com"],
        addresses: [
          "10.1.2.3/8",
          "10.0.0.0/8",
          "192.168.7.255/23",
          "2001:DB8:0:0:0:0:0:1",
          "2001:db8::1",
          "2001:db8:0:0:1:0:0:0/64",
          "::ffff:10.0.0.1",
          "0.0.0.0/0",
        ],
        ports: [HTTP],
        resolution: "STATIC",
      }),
    );
    assert.deepEqual(s.vips, [
      "10.0.0.0/8",
      "192.168.6.0/23",
      "2001:db8::1",
      "2001:db8::/64",
      "::ffff:a00:1",
      "0.0.0.0/0",
    ]);
  });

  test("VIPs: status.addresses when spec has none; spec wins when both; NONE never uses status", () => {
    const status = { addresses: [{ host: "a.example.com", value: "240.240.0.1" }, { value: "2001:2::1" }] };
    const fromStatus = readServiceEntry(
      entry({ hosts: ["a.example.com"], ports: [HTTP], resolution: "DNS" }, status),
    );
    assert.deepEqual(fromStatus.vips, ["240.240.0.1", "2001:2::1"]);
    assert.equal(fromStatus.entry?.addressesFrom, "status");
    const both = readServiceEntry(
      entry({ hosts: ["a.example.com"], addresses: ["240.0.0.9"], ports: [HTTP], resolution: "DNS" }, status),
    );
    assert.deepEqual(both.vips, ["240.0.0.9"]);
    const none = readServiceEntry(
      entry({ hosts: ["a.example.com"], ports: [HTTP], resolution: "NONE" }, status),
    );
    assert.deepEqual(none.vips, []);
    assert.match(none.entry?.unusable ?? "", /resolution NONE/);
  });

  test("ports: protocol as appProtocol, targetPort, duplicates and invalid numbers dropped", () => {
    const s = readServiceEntry(
      entry({
        hosts: ["a.example.com"],
        addresses: ["240.0.0.1"],
        resolution: "STATIC",
        ports: [
          { number: 443, name: "tls", protocol: "TLS", targetPort: 8443 },
          { number: 443, name: "dup", protocol: "HTTP" },
          { number: 0, name: "zero" },
          { number: 80, name: "web", protocol: "HTTP", targetPort: 70000 },
        ],
      }),
    );
    assert.deepEqual(s.ports, [
      { name: "tls", port: 443, appProtocol: "TLS", targetPort: 8443 },
      { name: "web", port: 80, appProtocol: "HTTP" },
    ]);
  });

  test("endpoint addresses: an endpoint's own port for the port's name, else targetPort, else the number", () => {
    const s = readServiceEntry(
      entry({
        hosts: ["a.example.com"],
        addresses: ["240.0.0.1"],
        resolution: "STATIC",
        ports: [
          { ...HTTP, targetPort: 8080 },
          { number: 5432, name: "db", protocol: "TCP" },
        ],
        endpoints: [{ address: "192.0.2.1" }, { address: "192.0.2.2", ports: { http: 9090 } }],
      }),
    );
    assert.deepEqual(entryAddresses(s, s.ports[0]!), [
      { address: "192.0.2.1", port: 8080 },
      { address: "192.0.2.2", port: 9090 },
    ]);
    assert.deepEqual(entryAddresses(s, s.ports[1]!), [
      { address: "192.0.2.1", port: 5432 },
      { address: "192.0.2.2", port: 5432 },
    ]);
  });

  test("DNS without endpoints resolves the hosts; STATIC without endpoints has none", () => {
    const dns = readServiceEntry(
      entry({
        hosts: ["a.example.com", "b.example.com"],
        addresses: ["240.0.0.1"],
        ports: [HTTP],
        resolution: "DNS",
      }),
    );
    assert.deepEqual(entryAddresses(dns, dns.ports[0]!), [
      { address: "a.example.com", port: 80 },
      { address: "b.example.com", port: 80 },
    ]);
    const st = readServiceEntry(
      entry({ hosts: ["a.example.com"], addresses: ["240.0.0.1"], ports: [HTTP], resolution: "STATIC" }),
    );
    assert.deepEqual(entryAddresses(st, st.ports[0]!), []);
  });

  test("what cannot be served says why", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ports: [HTTP], addresses: ["240.0.0.1"] }, /no spec.hosts/],
      [{ hosts: ["a"], addresses: ["240.0.0.1"] }, /no spec.ports/],
      [{ hosts: ["a"], ports: [HTTP], resolution: "DNS" }, /no addresses: neither spec.addresses nor/],
      [{ hosts: ["a"], ports: [HTTP], addresses: ["240.0.0.1"], resolution: "BOGUS" }, /resolution BOGUS/],
      [
        { hosts: ["a"], ports: [HTTP], addresses: ["240.0.0.1"], workloadSelector: { labels: { app: "x" } } },
        /workloadSelector is not supported/,
      ],
      [
        {
          hosts: ["a"],
          ports: [HTTP],
          addresses: ["240.0.0.1"],
          resolution: "STATIC",
          endpoints: [{ address: "x.y" }],
        },
        /"x.y" is not an IP address/,
      ],
      [
        { hosts: ["*.example.com"], ports: [HTTP], addresses: ["240.0.0.1"], resolution: "DNS" },
        /is a wildcard/,
      ],
    ];
    for (const [spec, why] of cases) assert.match(readServiceEntry(entry(spec)).entry?.unusable ?? "", why);
  });
});

describe("addresses Istio allocates later (kgateway#14390)", () => {
  const gateway: KubeObject = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "waypoint", namespace: "ns" },
    spec: {
      gatewayClassName: "kgateway-waypoint",
      listeners: [{ name: "mesh", port: 15088, protocol: "istio.io/PROXY" }],
    },
  } as KubeObject;
  const spec = {
    hosts: ["late.example.com"],
    ports: [HTTP],
    resolution: "STATIC",
    endpoints: [{ address: "192.0.2.1" }],
  };
  const objects = (e: KubeObject) => new Map([gateway, e].map((o) => [objectKey(refOf(o)), o]));
  const chains = (out: ReturnType<typeof translate>) =>
    out.waypoints.flatMap((w) =>
      w.resources[TypeUrl.listener].flatMap((l) =>
        ((l.json.filterChains ?? []) as Array<{ name: string; filterChainMatch: unknown }>).map((c) =>
          JSON.stringify([c.name, c.filterChainMatch]),
        ),
      ),
    );

  test("no chain before the status has an address, a chain on it after; the memo gives the same", () => {
    const memo = new TranslationMemo();
    const before = translate({ objects: objects(entry(spec)) }, GOLDEN_SETTINGS, memo);
    assert.deepEqual(chains(before), []);
    const allocated = entry(spec, { addresses: [{ host: "late.example.com", value: "240.240.0.5" }] });
    const after = translate({ objects: objects(allocated) }, GOLDEN_SETTINGS, memo);
    assert.deepEqual(chains(after), [
      JSON.stringify([
        "fc_http_80_se_ext_ns",
        { prefixRanges: [{ addressPrefix: "240.240.0.5", prefixLen: 32 }], destinationPort: 80 },
      ]),
    ]);
    assert.deepEqual(after, translate({ objects: objects(allocated) }, GOLDEN_SETTINGS));
    // The address withdrawn again: the chain goes.
    assert.deepEqual(chains(translate({ objects: objects(entry(spec)) }, GOLDEN_SETTINGS, memo)), []);
  });
});

describe("a Service and a ServiceEntry of one name", () => {
  test("get chains, clusters, routes and policies of their own", () => {
    const objs: KubeObject[] = [
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: { name: "waypoint", namespace: "ns" },
        spec: {
          gatewayClassName: "kgateway-waypoint",
          listeners: [{ name: "mesh", port: 15088, protocol: "istio.io/PROXY" }],
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "ext", namespace: "ns", labels: { "istio.io/use-waypoint": "waypoint" } },
        spec: { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }] },
      },
      entry({
        hosts: ["ext.example.com"],
        addresses: ["240.0.0.1"],
        ports: [HTTP],
        resolution: "STATIC",
        endpoints: [{ address: "192.0.2.1" }],
      }),
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "on-entry", namespace: "ns" },
        spec: {
          parentRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "ext" }],
          rules: [
            { backendRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "ext", port: 80 }] },
          ],
        },
      },
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "deny-service", namespace: "ns" },
        spec: { targetRefs: [{ group: "", kind: "Service", name: "ext" }], action: "DENY", rules: [{}] },
      },
    ] as KubeObject[];
    const out = translate({ objects: new Map(objs.map((o) => [objectKey(refOf(o)), o])) }, GOLDEN_SETTINGS);
    const w = out.waypoints[0]!;
    const chains = (w.resources[TypeUrl.listener][0]?.json.filterChains ?? []) as Array<{ name: string }>;
    const byName = new Map(chains.map((c) => [c.name, JSON.stringify(c)]));
    assert.deepEqual([...byName.keys()].sort(), ["fc_http_80_ext_ns", "fc_http_80_se_ext_ns"]);
    // The policy on the Service is on its chain only.
    assert.match(byName.get("fc_http_80_ext_ns") ?? "", /deny-service/);
    assert.doesNotMatch(byName.get("fc_http_80_se_ext_ns") ?? "", /deny-service/);
    assert.deepEqual(w.resources[TypeUrl.cluster].map((c) => c.name).sort(), [
      "istio-se_ns_ext_ext.example.com_80",
      "kube_ns_ext_80",
    ]);
    // The route on the ServiceEntry is in its route configuration only.
    const routes = new Map(w.resources[TypeUrl.route].map((r) => [r.name, JSON.stringify(r.json)]));
    assert.match(routes.get("fc_http_80_se_ext_ns") ?? "", /ns\/on-entry/);
    assert.doesNotMatch(routes.get("fc_http_80_ext_ns") ?? "", /ns\/on-entry/);
  });
});
