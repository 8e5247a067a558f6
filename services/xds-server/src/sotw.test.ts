import assert from "node:assert/strict";
import { test } from "node:test";
import { DiscoveryResponseSchema, fromBinary } from "@waymark/envoy-proto";
import {
  basic,
  CDS,
  cluster,
  EDS,
  endpoints,
  LDS,
  listener,
  RDS,
  routes,
} from "@waymark/testing/xds-fixtures";
import { snapshotOf } from "../test/snapshot-of.ts";
import type { Outgoing } from "./protocol.ts";
import { SotwSession } from "./sotw.ts";

const wp = { namespace: "ns", name: "gw" };
const node = () => {
  let n = 0;
  return () => `n${++n}`;
};
const decode = (o: Outgoing) => {
  const r = fromBinary(DiscoveryResponseSchema, o.body);
  assert.equal(r.nonce, o.nonce);
  assert.equal(r.versionInfo, o.version);
  assert.equal(r.typeUrl, o.typeUrl);
  return r;
};
const req = (
  typeUrl: string,
  o: { names?: string[]; version?: string; nonce?: string; error?: string } = {},
) => ({
  typeUrl,
  resourceNames: o.names ?? [],
  versionInfo: o.version ?? "",
  responseNonce: o.nonce ?? "",
  ...(o.error ? { errorDetail: { code: 3, message: o.error } as never } : {}),
});

test("wildcard LDS: full set, fresh nonce, ACK answered by silence", () => {
  const s = new SotwSession(node());
  const snap = snapshotOf(wp, basic());
  const first = s.onRequest(req(LDS), snap);
  assert.equal(first.responses.length, 1);
  const r = first.responses[0]!;
  assert.equal(r.version, snap.type(LDS).version);
  assert.deepEqual(r.names, ["main"]);
  assert.equal(decode(r).resources.length, 1);
  const ack = s.onRequest(req(LDS, { version: r.version, nonce: r.nonce }), snap);
  assert.deepEqual(ack.responses, []);
  assert.deepEqual(ack.verdict, { kind: "ack", typeUrl: LDS, version: r.version, nonce: r.nonce });
  assert.deepEqual(s.onSnapshot(snap), [], "same snapshot: nothing to push");
});

test("NACK is recorded and the rejected version is never re-sent; a newer one is", () => {
  const s = new SotwSession(node());
  const v1 = snapshotOf(wp, basic());
  const r1 = s.onRequest(req(CDS), v1).responses[0]!;
  s.onRequest(req(CDS, { version: r1.version, nonce: r1.nonce }), v1);
  const v2 = snapshotOf(wp, basic({ timeout: "2s" }));
  const [r2] = s.onSnapshot(v2);
  assert.ok(r2 && r2.version !== r1.version);
  const nack = s.onRequest(req(CDS, { version: r1.version, nonce: r2.nonce, error: "bad cluster" }), v2);
  assert.deepEqual(nack.responses, [], "no resend after NACK");
  assert.deepEqual(nack.verdict, {
    kind: "nack",
    typeUrl: CDS,
    version: r2.version,
    nonce: r2.nonce,
    message: "bad cluster",
  });
  assert.deepEqual(s.onSnapshot(v2), [], "same rejected version is not pushed again");
  const v3 = snapshotOf(wp, basic({ timeout: "3s" }));
  const [r3] = s.onSnapshot(v3);
  assert.equal(r3?.version, v3.type(CDS).version);
  assert.notEqual(r3?.nonce, r2.nonce);
});

test("stale nonce: ignored, even with a subscription change", () => {
  const s = new SotwSession(node());
  const v1 = snapshotOf(wp, { ...basic(), [RDS]: { a: routes("a", "backend"), b: routes("b", "backend") } });
  const r1 = s.onRequest(req(RDS, { names: ["a"] }), v1).responses[0]!;
  const v2 = snapshotOf(wp, { ...basic(), [RDS]: { a: routes("a", "x"), b: routes("b", "x") } });
  const [r2] = s.onSnapshot(v2);
  assert.ok(r2);
  const stale = s.onRequest(req(RDS, { names: ["a", "b"], version: r1.version, nonce: r1.nonce }), v2);
  assert.equal(stale.ignored, true);
  assert.deepEqual(stale.responses, []);
  assert.equal(stale.verdict, undefined, "an old nonce is not an ACK");
  const current = s.onRequest(req(RDS, { names: ["a", "b"], version: r2.version, nonce: r2.nonce }), v2);
  assert.equal(current.verdict?.kind, "ack");
  assert.deepEqual(current.responses[0]?.names, ["a", "b"]);
});

test("RDS/EDS are partial: subscribed names only; adding a name is answered, removing one is not", () => {
  const s = new SotwSession(node());
  const snap = snapshotOf(wp, {
    [RDS]: { a: routes("a", "c"), b: routes("b", "c") },
    [EDS]: { c: endpoints("c", 1), d: endpoints("d", 2) },
  });
  const r1 = s.onRequest(req(EDS, { names: ["c", "missing"] }), snap).responses[0]!;
  assert.deepEqual(r1.names, ["c"]);
  assert.deepEqual([...decode(r1).resources].length, 1);
  const r2 = s.onRequest(req(EDS, { names: ["c", "d"], version: r1.version, nonce: r1.nonce }), snap)
    .responses[0]!;
  assert.deepEqual(r2.names, ["c", "d"]);
  assert.equal(r2.version, r1.version);
  const r3 = s.onRequest(req(EDS, { names: ["d"], version: r2.version, nonce: r2.nonce }), snap);
  assert.deepEqual(r3.responses, []);
  assert.equal(s.onRequest(req(RDS), snap).responses[0]?.names.length, 0, "RDS has no legacy wildcard");
});

test("legacy wildcard lasts only until the first explicit subscription (spec sequence)", () => {
  const s = new SotwSession(node());
  const snap = snapshotOf(wp, { [CDS]: { x: cluster("x"), y: cluster("y") } });
  const r1 = s.onRequest(req(CDS), snap).responses[0]!;
  assert.deepEqual(r1.names, ["x", "y"], "empty first request = wildcard");
  const r2 = s.onRequest(req(CDS, { names: ["x"], version: r1.version, nonce: r1.nonce }), snap);
  assert.deepEqual(r2.responses, [], "x already held at this version");
  const snap2 = snapshotOf(wp, { [CDS]: { x: cluster("x", "5s"), y: cluster("y", "5s") } });
  assert.deepEqual(s.onSnapshot(snap2)[0]?.names, ["x"], "explicit names now, not wildcard");
  const last = s.onSnapshot(snap2);
  assert.deepEqual(last, []);
  const s2 = new SotwSession(node());
  const a = s2.onRequest(req(CDS, { names: ["x"] }), snap).responses[0]!;
  const b = s2.onRequest(req(CDS, { version: a.version, nonce: a.nonce }), snap);
  assert.deepEqual(b.responses, [], "empty list after explicit names = unsubscribe all, not wildcard");
  const c = s2.onRequest(req(CDS, { names: ["*"], version: a.version, nonce: a.nonce }), snap);
  assert.deepEqual(c.responses[0]?.names, ["x", "y"], "explicit * = wildcard");
});

test("LDS is the full set: a deleted listener is absent from the next response", () => {
  const s = new SotwSession(node());
  const v1 = snapshotOf(wp, { [LDS]: { a: listener("a", 1, "r"), b: listener("b", 2, "r") } });
  const r1 = s.onRequest(req(LDS), v1).responses[0]!;
  assert.equal(decode(r1).resources.length, 2);
  const v2 = snapshotOf(wp, { [LDS]: { a: listener("a", 1, "r") } });
  const [r2] = s.onSnapshot(v2);
  assert.deepEqual(r2?.names, ["a"]);
  assert.equal(decode(r2!).resources.length, 1);
});

test("reconnect echoing the current version is sent nothing; an old version gets the set", () => {
  const snap = snapshotOf(wp, basic());
  const s = new SotwSession(node());
  const v = snap.type(LDS).version;
  assert.deepEqual(s.onRequest(req(LDS, { version: v, nonce: "old-stream-nonce" }), snap).responses, []);
  assert.deepEqual(
    s.onRequest(req(RDS, { names: ["main-routes"], version: snap.type(RDS).version }), snap).responses,
    [],
  );
  const s2 = new SotwSession(node());
  const r = s2.onRequest(req(LDS, { version: "some-old-version" }), snap);
  assert.equal(r.responses[0]?.version, v);
});

test("snapshot push: only changed, requested types, in CDS, EDS, LDS, RDS order; waits without a snapshot", () => {
  const s = new SotwSession(node());
  for (const t of [RDS, LDS, EDS, CDS]) {
    const names = t === RDS ? ["main-routes"] : t === EDS ? ["backend"] : [];
    assert.deepEqual(s.onRequest(req(t, { names }), undefined).responses, [], "no manifest yet: wait");
  }
  const v1 = snapshotOf(wp, basic());
  assert.deepEqual(
    s.onSnapshot(v1).map((o) => o.typeUrl),
    [CDS, EDS, LDS, RDS],
  );
  const v2 = snapshotOf(wp, basic({ timeout: "9s", upstreamPort: 1, port: 2, prefix: "/x" }));
  assert.deepEqual(
    s.onSnapshot(v2).map((o) => o.typeUrl),
    [CDS, EDS, LDS, RDS],
  );
  const v3 = snapshotOf(wp, basic({ timeout: "9s", upstreamPort: 7, port: 2, prefix: "/x" }));
  assert.deepEqual(
    s.onSnapshot(v3).map((o) => o.typeUrl),
    [EDS],
  );
  const nonces = new Set([...s.onSnapshot(snapshotOf(wp, basic()))].map((o) => o.nonce));
  assert.equal(nonces.size, 4, "a fresh nonce per response");
});

test("a changed cluster whose endpoints did not change gets its endpoints re-sent (Envoy re-warms it)", () => {
  const s = new SotwSession(node());
  const v1 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "1s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const c1 = s.onRequest(req(CDS), v1).responses[0]!;
  s.onRequest(req(CDS, { version: c1.version, nonce: c1.nonce }), v1);
  const e1 = s.onRequest(req(EDS, { names: ["a", "b"] }), v1).responses[0]!;
  s.onRequest(req(EDS, { names: ["a", "b"], version: e1.version, nonce: e1.nonce }), v1);

  // Cluster a changes; no endpoints do: CDS, then EDS again at the same version.
  const v2 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  assert.equal(v2.type(EDS).version, v1.type(EDS).version);
  const out = s.onSnapshot(v2);
  assert.deepEqual(
    out.map((o) => o.typeUrl),
    [CDS, EDS],
  );
  assert.equal(out[1]!.version, e1.version);
  assert.equal(decode(out[1]!).resources.length, 2);

  // A CDS change that only adds a cluster re-sends no endpoints (Envoy asks for the new ones).
  const v3 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s"), c: cluster("c", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  assert.deepEqual(
    s.onSnapshot(v3).map((o) => o.typeUrl),
    [CDS],
  );
  // Nothing changed: nothing sent.
  assert.deepEqual(s.onSnapshot(v3), []);

  // The same when the changed CDS goes out in answer to a request (one that arrives before the push).
  const v4 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "3s"), b: cluster("b", "1s"), c: cluster("c", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const step = s.onRequest(req(CDS), v4);
  assert.deepEqual(
    step.responses.map((o) => o.typeUrl),
    [CDS, EDS],
  );
  assert.deepEqual(s.onSnapshot(v4), [], "nothing left owed");
});

test("reconnecting with another cluster version than the server's: endpoints follow, whichever type comes first", () => {
  const v1 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "1s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const v2 = snapshotOf(wp, {
    [CDS]: { a: cluster("a", "2s"), b: cluster("b", "1s") },
    [EDS]: { a: endpoints("a", 1), b: endpoints("b", 2) },
  });
  const held = (t: string) => v1.type(t).version;
  const names = ["a", "b"];

  // Clusters first: CDS goes out; the first EDS request is answered though it holds that version.
  let s = new SotwSession(node());
  assert.deepEqual(
    s.onRequest(req(CDS, { version: held(CDS) }), v2).responses.map((o) => o.typeUrl),
    [CDS],
  );
  const eds = s.onRequest(req(EDS, { names, version: held(EDS) }), v2).responses;
  assert.deepEqual(
    eds.map((o) => [o.typeUrl, o.version]),
    [[EDS, v1.type(EDS).version]],
  );

  // Endpoints first: nothing yet; the CDS answer brings the endpoints right after it.
  s = new SotwSession(node());
  assert.deepEqual(s.onRequest(req(EDS, { names, version: held(EDS) }), v2).responses, []);
  assert.deepEqual(
    s.onRequest(req(CDS, { version: held(CDS) }), v2).responses.map((o) => o.typeUrl),
    [CDS, EDS],
  );

  // Holding the server's versions already: nothing at all.
  s = new SotwSession(node());
  assert.deepEqual(s.onRequest(req(CDS, { version: held(CDS) }), v1).responses, []);
  assert.deepEqual(s.onRequest(req(EDS, { names, version: held(EDS) }), v1).responses, []);
});
