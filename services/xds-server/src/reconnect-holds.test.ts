// A proxy that reconnects (perhaps to another replica) already holding the current configuration is
// sent nothing; the session must still report that it holds that version, or its wm-proxies record on
// the new replica says it holds nothing (found by the chaos suite: after an xds-server replica was
// killed, the proxies that moved showed no CDS/EDS/LDS version until those types next changed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { CDS, cluster, EDS, endpoints, RDS, routes } from "@waymark/testing/xds-fixtures";
import { snapshotOf } from "../test/snapshot-of.ts";
import { DeltaSession } from "./delta.ts";
import { SotwSession } from "./sotw.ts";

const wp = { namespace: "ns", name: "gw" };
const nonces = () => {
  let n = 0;
  return () => `n${++n}`;
};
const snap = snapshotOf(wp, {
  [CDS]: { a: cluster("a"), b: cluster("b") },
  [EDS]: { a: endpoints("a", 1) },
  [RDS]: { r: routes("r", "x") },
});
const hashes = (t: string) => Object.fromEntries([...snap.type(t).resources].map(([n, e]) => [n, e.hash]));
const delta = (typeUrl: string, subscribe: string[], initial: Record<string, string>) => ({
  typeUrl,
  resourceNamesSubscribe: subscribe,
  resourceNamesUnsubscribe: [],
  initialResourceVersions: initial,
  responseNonce: "",
});
const sotw = (typeUrl: string, names: string[], version: string) => ({
  typeUrl,
  resourceNames: names,
  versionInfo: version,
  responseNonce: "",
});

test("delta: reconnecting with every current hash → nothing sent, holds the type's version", () => {
  const s = new DeltaSession(nonces());
  const cds = s.onRequest(delta(CDS, [], hashes(CDS)), snap);
  assert.deepEqual(cds.responses, []);
  assert.deepEqual(cds.holds, { typeUrl: CDS, version: snap.type(CDS).version });
  const eds = s.onRequest(delta(EDS, ["a"], hashes(EDS)), snap);
  assert.deepEqual(eds.responses, []);
  assert.deepEqual(eds.holds, { typeUrl: EDS, version: snap.type(EDS).version });
});

test("delta: a stale or fresh subscription is answered, and holds nothing until ACKed", () => {
  const s = new DeltaSession(nonces());
  const stale = s.onRequest(delta(CDS, [], { a: hashes(CDS)["a"]!, b: "old" }), snap);
  assert.equal(stale.responses.length, 1);
  assert.equal(stale.holds, undefined);
  const fresh = s.onRequest(delta(RDS, ["r"], {}), snap);
  assert.equal(fresh.responses.length, 1);
  assert.equal(fresh.holds, undefined);
  // Later requests of an open type never claim a hold.
  const again = s.onRequest({ ...delta(RDS, [], {}), responseNonce: fresh.responses[0]!.nonce }, snap);
  assert.equal(again.holds, undefined);
  assert.equal(again.verdict?.kind, "ack");
});

test("SotW: reconnecting with the current version_info → nothing sent, holds it", () => {
  const s = new SotwSession(nonces());
  const cds = s.onRequest(sotw(CDS, [], snap.type(CDS).version), snap);
  assert.deepEqual(cds.responses, []);
  assert.deepEqual(cds.holds, { typeUrl: CDS, version: snap.type(CDS).version });
  const old = s.onRequest(sotw(RDS, ["r"], "an-old-version"), snap);
  assert.equal(old.responses.length, 1);
  assert.equal(old.holds, undefined);
  const first = new SotwSession(nonces()).onRequest(sotw(EDS, ["a"], ""), snap);
  assert.equal(first.responses.length, 1);
  assert.equal(first.holds, undefined);
});
