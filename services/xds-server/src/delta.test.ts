import assert from "node:assert/strict";
import { test } from "node:test";
import { DeltaDiscoveryResponseSchema, fromBinary } from "@waymark/envoy-proto";
import { basic, CDS, cluster, EDS, endpoints, LDS, RDS, routes } from "@waymark/testing/xds-fixtures";
import { snapshotOf } from "../test/snapshot-of.ts";
import { DeltaSession } from "./delta.ts";
import type { Outgoing } from "./protocol.ts";

const wp = { namespace: "ns", name: "gw" };
const nonces = () => {
  let n = 0;
  return () => `d${++n}`;
};
const req = (
  typeUrl: string,
  o: {
    sub?: string[];
    unsub?: string[];
    initial?: Record<string, string>;
    nonce?: string;
    error?: string;
  } = {},
) => ({
  typeUrl,
  resourceNamesSubscribe: o.sub ?? [],
  resourceNamesUnsubscribe: o.unsub ?? [],
  initialResourceVersions: o.initial ?? {},
  responseNonce: o.nonce ?? "",
  ...(o.error ? { errorDetail: { code: 3, message: o.error } as never } : {}),
});
const decode = (o: Outgoing | undefined) => {
  assert.ok(o, "expected a response");
  const r = fromBinary(DeltaDiscoveryResponseSchema, o.body);
  assert.equal(r.nonce, o.nonce);
  assert.equal(r.systemVersionInfo, o.version);
  return {
    names: r.resources.map((x) => x.name),
    versions: Object.fromEntries(r.resources.map((x) => [x.name, x.version])),
    removed: r.removedResources,
  };
};

test("initial wildcard CDS/LDS: every resource, version = content hash, system version = type version", () => {
  const s = new DeltaSession(nonces());
  const snap = snapshotOf(wp, { ...basic(), [CDS]: { a: cluster("a"), b: cluster("b") } });
  const out = s.onRequest(req(CDS), snap).responses[0];
  const d = decode(out);
  assert.deepEqual(d.names, ["a", "b"]);
  assert.equal(d.versions["a"], snap.type(CDS).resources.get("a")?.hash);
  assert.equal(out?.version, snap.type(CDS).version);
  const ack = s.onRequest(req(CDS, { nonce: out!.nonce }), snap);
  assert.deepEqual(ack.responses, []);
  assert.equal(ack.verdict?.kind, "ack");
  assert.equal(ack.verdict?.version, snap.type(CDS).version);
  // An empty wildcard type still gets a first (empty) answer so the proxy can finish initialising.
  const empty = snapshotOf(wp, { [CDS]: { a: cluster("a") } });
  const e = s.onRequest(req(LDS), empty).responses[0];
  assert.deepEqual(decode(e), { names: [], versions: {}, removed: [] });
});

test("subscribe and unsubscribe RDS/EDS by name", () => {
  const s = new DeltaSession(nonces());
  const snap = snapshotOf(wp, {
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2), c: endpoints("c", 3) },
  });
  assert.deepEqual(decode(s.onRequest(req(EDS, { sub: ["a"] }), snap).responses[0]).names, ["a"]);
  assert.deepEqual(decode(s.onRequest(req(EDS, { sub: ["b", "c"] }), snap).responses[0]).names, ["b", "c"]);
  assert.deepEqual(
    s.onRequest(req(EDS, { unsub: ["b"] }), snap).responses,
    [],
    "unsubscribe needs no answer",
  );
  const v2 = snapshotOf(wp, {
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 20), c: endpoints("c", 30) },
  });
  assert.deepEqual(decode(s.onSnapshot(v2)[0]).names, ["c"], "b no longer subscribed");
  assert.deepEqual(
    decode(s.onRequest(req(EDS, { sub: ["b"] }), v2).responses[0]).names,
    ["b"],
    "resubscribe resends",
  );
});

test("a missing name is answered in removed_resources once, remembered, and pushed when it appears", () => {
  const s = new DeltaSession(nonces());
  const v1 = snapshotOf(wp, { [RDS]: { a: routes("a", "x") } });
  assert.deepEqual(decode(s.onRequest(req(RDS, { sub: ["a", "later"] }), v1).responses[0]), {
    names: ["a"],
    versions: { a: v1.type(RDS).resources.get("a")!.hash },
    removed: ["later"],
  });
  const v1b = snapshotOf(wp, { [RDS]: { a: routes("a", "y") } });
  assert.deepEqual(decode(s.onSnapshot(v1b)[0]).removed, [], "not reported again");
  const v2 = snapshotOf(wp, { [RDS]: { a: routes("a", "y"), later: routes("later", "x") } });
  assert.deepEqual(decode(s.onSnapshot(v2)[0]).names, ["later"]);
  const v3 = snapshotOf(wp, { [RDS]: { a: routes("a", "y") } });
  assert.deepEqual(decode(s.onSnapshot(v3)[0]).removed, ["later"], "deleted again: removed");
});

test("reconnect with initial_resource_versions: matching hashes are not resent", () => {
  const snap = snapshotOf(wp, { [CDS]: { a: cluster("a"), b: cluster("b") } });
  const held = Object.fromEntries([...snap.type(CDS).resources].map(([n, e]) => [n, e.hash]));
  const s = new DeltaSession(nonces());
  assert.deepEqual(s.onRequest(req(CDS, { initial: held }), snap).responses, []);
  const s2 = new DeltaSession(nonces());
  const d = decode(
    s2.onRequest(req(CDS, { initial: { a: held["a"]!, b: "stale", gone: "x" } }), snap).responses[0],
  );
  assert.deepEqual(d.names, ["b"]);
  assert.deepEqual(d.removed, ["gone"]);
});

test("subscription changes apply even with a stale nonce", () => {
  const s = new DeltaSession(nonces());
  const snap = snapshotOf(wp, { [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) } });
  s.onRequest(req(EDS, { sub: ["a"] }), snap);
  const step = s.onRequest(req(EDS, { sub: ["b"], nonce: "not-a-nonce-of-ours" }), snap);
  assert.equal(step.verdict, undefined);
  assert.deepEqual(decode(step.responses[0]).names, ["b"]);
});

test("NACK: recorded with its message, the rejected resources are not resent, newer ones are", () => {
  const s = new DeltaSession(nonces());
  const v1 = snapshotOf(wp, basic());
  const r1 = s.onRequest(req(CDS), v1).responses[0]!;
  const v2 = snapshotOf(wp, basic({ timeout: "2s" }));
  const [r2] = s.onSnapshot(v2);
  const stale = s.onRequest(req(CDS, { nonce: r1.nonce }), v2);
  assert.equal(stale.verdict?.version, v1.type(CDS).version, "an older response can still be acked in delta");
  const nack = s.onRequest(req(CDS, { nonce: r2!.nonce, error: "rejected" }), v2);
  assert.deepEqual(nack.verdict, {
    kind: "nack",
    typeUrl: CDS,
    version: v2.type(CDS).version,
    nonce: r2!.nonce,
    message: "rejected",
  });
  assert.deepEqual(nack.responses, []);
  assert.deepEqual(s.onSnapshot(v2), []);
  assert.deepEqual(decode(s.onSnapshot(snapshotOf(wp, basic({ timeout: "3s" })))[0]).names, ["backend"]);
});

test("wildcard: deleted resources are removed; an unsubscribed name still covered by the wildcard is re-sent", () => {
  const s = new DeltaSession(nonces());
  const v1 = snapshotOf(wp, { [CDS]: { a: cluster("a"), b: cluster("b") } });
  s.onRequest(req(CDS), v1);
  const v2 = snapshotOf(wp, { [CDS]: { a: cluster("a") } });
  assert.deepEqual(decode(s.onSnapshot(v2)[0]), { names: [], versions: {}, removed: ["b"] });
  assert.deepEqual(decode(s.onRequest(req(CDS, { unsub: ["a"] }), v2).responses[0]).names, ["a"]);
  assert.deepEqual(decode(s.onRequest(req(CDS, { unsub: ["zz"] }), v2).responses[0]).removed, ["zz"]);
});

test("push order CDS, EDS, LDS, RDS; only changed types; nothing without a snapshot", () => {
  const s = new DeltaSession(nonces());
  s.onRequest(req(RDS, { sub: ["main-routes"] }), undefined);
  s.onRequest(req(LDS), undefined);
  s.onRequest(req(EDS, { sub: ["backend"] }), undefined);
  s.onRequest(req(CDS), undefined);
  assert.deepEqual(s.onSnapshot(undefined), []);
  const v1 = snapshotOf(wp, basic());
  assert.deepEqual(
    s.onSnapshot(v1).map((o) => o.typeUrl),
    [CDS, EDS, LDS, RDS],
  );
  const v2 = snapshotOf(wp, basic({ timeout: "4s", upstreamPort: 2, port: 3, prefix: "/p" }));
  assert.deepEqual(
    s.onSnapshot(v2).map((o) => o.typeUrl),
    [CDS, EDS, LDS, RDS],
  );
  assert.deepEqual(
    s
      .onSnapshot(snapshotOf(wp, basic({ timeout: "4s", upstreamPort: 2, port: 3, prefix: "/q" })))
      .map((o) => o.typeUrl),
    [RDS],
  );
});

test("a changed cluster whose endpoints did not change gets its endpoints re-sent (Envoy re-warms it)", () => {
  const s = new DeltaSession(nonces());
  const v1 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "1s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const cds = s.onRequest(req(CDS), v1).responses[0];
  s.onRequest(req(CDS, { nonce: cds!.nonce }), v1);
  const eds = s.onRequest(req(EDS, { sub: ["a", "b"] }), v1).responses[0];
  assert.deepEqual(decode(eds).names, ["a", "b"]);
  s.onRequest(req(EDS, { sub: [], nonce: eds!.nonce }), v1);

  // Cluster a changes (its timeout); no endpoints change. CDS carries a; EDS re-sends a's endpoints
  // at the same version, and nothing for b.
  const v2 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  assert.equal(v2.type(EDS).resources.get("a")?.hash, v1.type(EDS).resources.get("a")?.hash);
  const out = s.onSnapshot(v2);
  assert.equal(out.length, 2, "CDS then EDS");
  assert.equal(out[0]?.typeUrl, CDS);
  assert.deepEqual(decode(out[0]).names, ["a"]);
  assert.equal(out[1]?.typeUrl, EDS);
  const e = decode(out[1]);
  assert.deepEqual(e.names, ["a"]);
  assert.equal(e.versions["a"], v1.type(EDS).resources.get("a")?.hash);

  // A snapshot where no cluster changes re-sends no endpoints.
  const v3 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
    [LDS]: {},
  });
  assert.deepEqual(
    s.onSnapshot(v3).map((o) => o.typeUrl),
    [],
  );
});

test("reconnecting with a cluster changed while away: its endpoints follow, whichever type the client asks for first", () => {
  const v1 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "1s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const v2 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const held = (t: string) =>
    Object.fromEntries([...v1.type(t).resources.values()].map((e) => [e.name, e.hash]));

  // Clusters first: a comes back changed, and a's endpoints (same version) go with the EDS answer.
  let s = new DeltaSession(nonces());
  const cds = s.onRequest(req(CDS, { initial: held(CDS) }), v2).responses;
  assert.deepEqual(
    cds.map((o) => [o.typeUrl, decode(o).names]),
    [[CDS, ["a"]]],
  );
  const eds = s.onRequest(req(EDS, { sub: ["a", "b"], initial: held(EDS) }), v2).responses;
  assert.deepEqual(
    eds.map((o) => [o.typeUrl, decode(o).names]),
    [[EDS, ["a"]]],
  );

  // Endpoints first: nothing owed yet; the CDS answer then brings a's endpoints right after it.
  s = new DeltaSession(nonces());
  assert.deepEqual(s.onRequest(req(EDS, { sub: ["a", "b"], initial: held(EDS) }), v2).responses, []);
  const both = s.onRequest(req(CDS, { initial: held(CDS) }), v2).responses;
  assert.deepEqual(
    both.map((o) => [o.typeUrl, decode(o).names]),
    [
      [CDS, ["a"]],
      [EDS, ["a"]],
    ],
  );

  // Reconnecting with every version current: nothing at all.
  s = new DeltaSession(nonces());
  assert.deepEqual(s.onRequest(req(CDS, { initial: held(CDS) }), v1).responses, []);
  assert.deepEqual(s.onRequest(req(EDS, { sub: ["a", "b"], initial: held(EDS) }), v1).responses, []);
});
