// The status and infra writers against a real API server (etcd + kube-apiserver with the Gateway API
// CRDs, no workloads) and a real NATS: the writers follow wm-status / wm-infra and write with
// server-side apply. They skip writes that change nothing (no new resourceVersion, no new managedFields
// time), withdraw what the translator no longer computes (only Waymark's fields), never touch other
// controllers' entries of a route's status, and apply, re-apply and delete a waypoint's objects.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Bucket,
  createLogger,
  type InfraEntry,
  infraKey,
  type KubeObject,
  type ObjectRef,
  objectKey,
  type StatusEntry,
} from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket, putJson } from "@waymark/bus";
import {
  type KubeCluster,
  type NatsServer,
  startKubeCluster,
  startNats,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { KubeApiError, KubeClient } from "../src/kube/client.ts";
import { fromKubeconfig } from "../src/kube/connection.ts";
import { KubeSource } from "../src/kube/source.ts";
import type { SourceSink } from "../src/source.ts";
import { APPLIED_HASH, InfraWriter } from "../src/writeback/infra-writer.ts";
import { StatusWriter } from "../src/writeback/status-writer.ts";

const skip = process.env["WAYMARK_SKIP_KUBE"] === "1" ? "WAYMARK_SKIP_KUBE=1" : false;
const CONTROLLER = "waymark.dev/waymark";
const FIELD_MANAGER = "waymark";
const NS = "wb";

const log = createLogger("writeback-test", {}, (line) => {
  if (process.env["WATCHER_TEST_LOGS"]) process.stderr.write(line);
});

const noSink: SourceSink = {
  replaceAll() {},
  upsert() {},
  remove() {},
  reportSourceProblem() {},
  clearSourceProblem() {},
};

interface Live {
  metadata: {
    resourceVersion: string;
    uid: string;
    annotations?: Record<string, string>;
    managedFields?: Array<{ manager: string; operation: string; subresource?: string; time: string }>;
  };
  status?: {
    parents?: Array<{ controllerName: string; parentRef: { name: string }; conditions: Condition[] }>;
    conditions?: Condition[];
  };
  data?: Record<string, string>;
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

const T0 = "2025-01-01T00:00:00Z";
const cond = (type: string, ok: boolean, reason: string, generation = 1): Condition => ({
  type,
  status: ok ? "True" : "False",
  reason,
  message: `${type} ${reason}`,
  lastTransitionTime: T0,
  observedGeneration: generation,
});
const routeRef = (name: string): ObjectRef => ({
  group: "gateway.networking.k8s.io",
  kind: "HTTPRoute",
  namespace: NS,
  name,
});
const parent = (controllerName: string, service: string, conditions: Condition[]) => ({
  parentRef: { group: "", kind: "Service", name: service, namespace: NS },
  controllerName,
  conditions,
});
const entry = (ref: ObjectRef, status: Record<string, unknown>): StatusEntry => ({
  ref,
  generation: 1,
  status,
  computedAt: new Date().toISOString(),
});

describe("status and infra writers on a real API server", { timeout: 90_000, skip }, () => {
  let cluster: KubeCluster;
  let nats: NatsServer;
  let nc: NatsConnection;
  let statusKv: KV;
  let infraKv: KV;
  let source: KubeSource;
  const stops: Array<() => Promise<void>> = [];
  const client = () => {
    const c = new KubeClient(fromKubeconfig(cluster.adminKubeconfig));
    stops.push(async () => c.close());
    return c;
  };
  const kubectl = (args: string[], input?: string) =>
    cluster.kubectl(args, input === undefined ? {} : { input });
  const apply = (o: unknown) => kubectl(["apply", "-f", "-"], JSON.stringify(o));
  const get = async (kind: string, name: string): Promise<Live> =>
    JSON.parse(await kubectl(["-n", NS, "get", kind, name, "--show-managed-fields", "-o", "json"])) as Live;
  const exists = async (kind: string, name: string): Promise<boolean> =>
    (await kubectl(["-n", NS, "get", kind, name, "--ignore-not-found", "-o", "name"])).trim() !== "";
  /** Another controller writes status by server-side apply with its own field manager. */
  const foreignStatus = async (plural: string, name: string, body: Record<string, unknown>) => {
    const c = client();
    await c.request("PATCH", `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/${plural}/${name}/status`, {
      body: { apiVersion: "gateway.networking.k8s.io/v1", metadata: { name, namespace: NS }, ...body },
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: "other-controller", force: true },
    });
  };
  const ourStatusTime = (o: Live) =>
    o.metadata.managedFields?.find((f) => f.manager === FIELD_MANAGER && f.subresource === "status")?.time;
  const route = (name: string, service: string) =>
    apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, namespace: NS },
      spec: {
        parentRefs: [{ group: "", kind: "Service", name: service }],
        rules: [{ backendRefs: [{ name: service, port: 8000 }] }],
      },
    });
  const startStatusWriter = async () => {
    const w = new StatusWriter({
      client: client(),
      source,
      status: statusKv,
      log,
      fieldManager: FIELD_MANAGER,
      controllerNames: [CONTROLLER],
    });
    await w.start();
    w.setLeading(true);
    stops.push(() => w.stop());
    return w;
  };

  before(async () => {
    const logDir = tempDir("watcher-writeback");
    // Both settle before a failure is reported, so that after() stops whichever did start (a NATS
    // left running would keep this file from ever ending).
    const [k, n] = await Promise.allSettled([
      startKubeCluster({ logDir, workloads: false }),
      startNats({ logDir }),
    ]);
    if (k.status === "fulfilled") cluster = k.value;
    if (n.status === "fulfilled") nats = n.value;
    for (const r of [k, n]) if (r.status === "rejected") throw r.reason;
    nc = await connectBus({ servers: nats.url, name: "writeback-test", log });
    statusKv = await openBucket(nc, Bucket.status);
    infraKv = await openBucket(nc, Bucket.infra);
    await kubectl(["create", "namespace", NS]);
    // Every kind Waymark watches (Istio's security.istio.io CRDs are installed); TrafficPolicy and
    // GatewayExtension are not served here (their CRDs are not installed): empty.
    source = new KubeSource({ client: client(), log });
    await source.start(noSink);
  });
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await source?.stop();
    await nc?.close();
    await nats?.stop();
    await cluster?.stop();
  });

  test("status: written once, not again for the same status (even by a new writer), once per change", async () => {
    await route("r1", "svc1");
    await route("r2", "svc2");
    const w = await startStatusWriter();
    const k1 = objectKey(routeRef("r1"));
    const k2 = objectKey(routeRef("r2"));
    const ours = (ok: boolean) => ({
      parents: [
        parent(CONTROLLER, "svc1", [
          cond("Accepted", true, "Accepted"),
          cond("ResolvedRefs", ok, ok ? "ResolvedRefs" : "BackendNotFound"),
        ]),
      ],
    });
    await putJson(statusKv, k1, entry(routeRef("r1"), ours(true)));
    await waitFor(
      "r1 status written",
      async () => (await get("httproute", "r1")).status?.parents?.length === 1,
    );
    await w.idle();
    assert.equal(w.writes, 1);
    const first = await get("httproute", "r1");
    assert.deepEqual(first.status, ours(true));
    const firstTime = ourStatusTime(first);
    assert.ok(firstTime, "the status is managed by Waymark's field manager");

    // The same status again (a new wm-status revision), then a status for r2: r2 is written, r1 not.
    await new Promise((r) => setTimeout(r, 1100)); // a write now would show in managedFields' time
    await putJson(statusKv, k1, entry(routeRef("r1"), ours(true)));
    await putJson(
      statusKv,
      k2,
      entry(routeRef("r2"), { parents: [parent(CONTROLLER, "svc2", [cond("Accepted", true, "Accepted")])] }),
    );
    await waitFor("r2 status written", async () => (await get("httproute", "r2")).status !== undefined);
    await w.idle();
    assert.equal(w.writes, 2, "only r2 was written");
    const again = await get("httproute", "r1");
    assert.equal(again.metadata.resourceVersion, first.metadata.resourceVersion);
    assert.equal(ourStatusTime(again), firstTime);

    // A restarted writer (nothing remembered) finds every live status as wanted: no write at all.
    await w.stop();
    const w2 = await startStatusWriter();
    await new Promise((r) => setTimeout(r, 300));
    await w2.idle();
    assert.equal(w2.writes, 0);
    assert.equal((await get("httproute", "r1")).metadata.resourceVersion, first.metadata.resourceVersion);

    // A changed condition: exactly one write.
    await putJson(statusKv, k1, entry(routeRef("r1"), ours(false)));
    await waitFor(
      "r1 ResolvedRefs False",
      async () =>
        (await get("httproute", "r1")).status?.parents?.[0]?.conditions.find((c) => c.type === "ResolvedRefs")
          ?.reason === "BackendNotFound",
    );
    await new Promise((r) => setTimeout(r, 300));
    await w2.idle();
    assert.equal(w2.writes, 1);
    const changed = await get("httproute", "r1");
    assert.notEqual(changed.metadata.resourceVersion, first.metadata.resourceVersion);
    assert.deepEqual(changed.status, ours(false));
    await w2.stop();
  });

  test("status: other controllers' route parents stay; withdrawing removes only ours", async () => {
    await route("shared", "svc3");
    const key = objectKey(routeRef("shared"));
    const foreign = parent("example.com/other-mesh", "svc3", [
      cond("Accepted", false, "NotAllowedByListeners"),
    ]);
    await foreignStatus("httproutes", "shared", { kind: "HTTPRoute", status: { parents: [foreign] } });
    await waitFor("the writer's source saw the foreign status", () => {
      const o = source.get(key) as Live | undefined;
      return o?.status?.parents?.length === 1;
    });
    const w = await startStatusWriter();
    const mine = parent(CONTROLLER, "svc3", [cond("Accepted", true, "Accepted")]);
    await putJson(statusKv, key, entry(routeRef("shared"), { parents: [mine] }));
    await waitFor("our parent entry written", async () =>
      (await get("httproute", "shared")).status?.parents?.some((p) => p.controllerName === CONTROLLER),
    );
    await new Promise((r) => setTimeout(r, 300));
    await w.idle();
    const both = await get("httproute", "shared");
    assert.deepEqual(
      both.status?.parents?.map((p) => p.controllerName).sort(),
      ["example.com/other-mesh", CONTROLLER].sort(),
      "both controllers' entries are there",
    );
    assert.deepEqual(
      both.status?.parents?.find((p) => p.controllerName !== CONTROLLER),
      foreign,
      "the other controller's entry is untouched",
    );
    const writes = w.writes;
    assert.equal(writes, 1);
    // The writer sends the version it read along with the other controller's entry: an apply over a
    // version that is no longer current is refused, so an entry written meanwhile is never lost.
    await assert.rejects(
      client().request(
        "PATCH",
        `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/shared/status`,
        {
          body: {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            metadata: { name: "shared", namespace: NS, resourceVersion: "1" },
            status: { parents: [mine] },
          },
          contentType: "application/apply-patch+yaml",
          query: { fieldManager: FIELD_MANAGER, force: true },
        },
      ),
      (err: unknown) => err instanceof KubeApiError && err.status === 409,
    );

    // The same status again: nothing to write although the live list holds another entry too.
    await putJson(statusKv, key, entry(routeRef("shared"), { parents: [mine] }));
    await new Promise((r) => setTimeout(r, 500));
    await w.idle();
    assert.equal(w.writes, writes);
    assert.equal((await get("httproute", "shared")).metadata.resourceVersion, both.metadata.resourceVersion);

    // The translator no longer computes a status for the route: ours goes, theirs stays.
    await statusKv.delete(key);
    await waitFor(
      "our parent entry withdrawn",
      async () =>
        !(await get("httproute", "shared")).status?.parents?.some((p) => p.controllerName === CONTROLLER),
    );
    assert.deepEqual((await get("httproute", "shared")).status?.parents, [foreign]);
    await w.stop();
  });

  test("status: a withdrawn Gateway status loses only the fields Waymark wrote", async () => {
    await apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: NS },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    });
    const ref: ObjectRef = { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: NS, name: "gw" };
    const key = objectKey(ref);
    const other = cond("example.com/Audited", true, "Audited");
    await foreignStatus("gateways", "gw", { kind: "Gateway", status: { conditions: [other] } });
    const w = await startStatusWriter();
    await putJson(
      statusKv,
      key,
      entry(ref, {
        conditions: [cond("Accepted", true, "Accepted"), cond("Programmed", true, "Programmed")],
      }),
    );
    const types = async () =>
      ((await get("gateway", "gw")).status?.conditions ?? []).map((c) => c.type).sort();
    await waitFor(
      "our conditions written",
      async () =>
        JSON.stringify(await types()) === JSON.stringify(["Accepted", "Programmed", other.type].sort()),
    );
    await statusKv.delete(key);
    await waitFor(
      "our conditions withdrawn",
      async () => JSON.stringify(await types()) === JSON.stringify([other.type]),
    );
    const live = await get("gateway", "gw");
    assert.deepEqual(live.status?.conditions, [other]);
    assert.equal(ourStatusTime(live), undefined, "Waymark owns no status field any more");
    const writes = w.writes;
    // Withdrawn once: no further writes for it.
    await new Promise((r) => setTimeout(r, 500));
    await w.idle();
    assert.equal(w.writes, writes);
    await w.stop();
  });

  test("status: a restarted writer leaves a Gateway and a GatewayClass alone when another controller wrote beside us", async () => {
    const gwRef: ObjectRef = {
      group: "gateway.networking.k8s.io",
      kind: "Gateway",
      namespace: NS,
      name: "gw-shared",
    };
    const classRef: ObjectRef = {
      group: "gateway.networking.k8s.io",
      kind: "GatewayClass",
      namespace: "",
      name: "wb-shared",
    };
    await apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: classRef.name },
      spec: { controllerName: CONTROLLER },
    });
    await apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: gwRef.name, namespace: NS },
      spec: {
        gatewayClassName: classRef.name,
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    });
    // Another controller's condition on each, written by its own field manager.
    const other = cond("example.com/Audited", true, "Audited");
    await foreignStatus("gateways", gwRef.name, { kind: "Gateway", status: { conditions: [other] } });
    const c = client();
    await c.request("PATCH", `/apis/gateway.networking.k8s.io/v1/gatewayclasses/${classRef.name}/status`, {
      body: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: classRef.name },
        status: { conditions: [other] },
      },
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: "other-controller", force: true },
    });
    const ours = { conditions: [cond("Accepted", true, "Accepted")] };
    const w = await startStatusWriter();
    await putJson(statusKv, objectKey(gwRef), entry(gwRef, ours));
    await putJson(statusKv, objectKey(classRef), entry(classRef, ours));
    // Until the writer's own view holds both controllers' conditions on both objects.
    const both = (ref: ObjectRef) => {
      const types = ((source.get(objectKey(ref)) as Live | undefined)?.status?.conditions ?? []).map(
        (x) => x.type,
      );
      return types.includes("Accepted") && types.includes(other.type);
    };
    await waitFor(
      "both conditions on both objects, as the source sees them",
      () => both(gwRef) && both(classRef),
    );
    await w.idle();
    assert.equal(w.writes, 2);
    const rvs = async () => [
      (await get("gateway", gwRef.name)).metadata.resourceVersion,
      JSON.parse(await kubectl(["get", "gatewayclass", classRef.name, "-o", "json"])).metadata
        .resourceVersion,
    ];
    const before = await rvs();
    await w.stop();

    // A restart: nothing remembered, the other controller's condition in the live status. No apply.
    const w2 = await startStatusWriter();
    await w2.idle();
    assert.equal(w2.writes, 0, "no apply for what is not ours");
    assert.deepEqual(await rvs(), before);
    // A change of ours is still written, and the other controller's condition stays.
    await putJson(
      statusKv,
      objectKey(gwRef),
      entry(gwRef, { conditions: [cond("Accepted", false, "Invalid")] }),
    );
    await waitFor("our changed condition written", async () =>
      (await get("gateway", gwRef.name)).status?.conditions?.some((x) => x.reason === "Invalid"),
    );
    await w2.idle();
    assert.equal(w2.writes, 1);
    assert.ok((await get("gateway", gwRef.name)).status?.conditions?.some((x) => x.type === other.type));
    await w2.stop();
  });

  test("status: an Istio policy's conditions: ours by type, istiod's conditions and validationMessages stay", async () => {
    const ISTIO = "security.istio.io";
    const policy = (kind: string, name: string) =>
      apply({
        apiVersion: `${ISTIO}/v1`,
        kind,
        metadata: { name, namespace: NS },
        spec: {
          targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" }],
          ...(kind === "AuthorizationPolicy" ? { action: "DENY", rules: [{}] } : {}),
        },
      });
    const apRef: ObjectRef = { group: ISTIO, kind: "AuthorizationPolicy", namespace: NS, name: "deny-all" };
    const raRef: ObjectRef = { group: ISTIO, kind: "RequestAuthentication", namespace: NS, name: "jwt" };
    await policy("AuthorizationPolicy", apRef.name);
    await policy("RequestAuthentication", raRef.name);
    // What istiod writes beside ours: its analysers' messages and a condition of another type.
    const theirs = cond("Reconciled", true, "Reconciled");
    const messages = [{ level: "WARNING", type: { code: "IST0173", name: "SomeWarning" } }];
    await client().request(
      "PATCH",
      `/apis/${ISTIO}/v1/namespaces/${NS}/authorizationpolicies/deny-all/status`,
      {
        body: {
          apiVersion: `${ISTIO}/v1`,
          kind: "AuthorizationPolicy",
          metadata: { name: apRef.name, namespace: NS },
          status: { conditions: [theirs], validationMessages: messages },
        },
        contentType: "application/apply-patch+yaml",
        query: { fieldManager: "istio.io/analysis", force: true },
      },
    );
    const apKey = objectKey(apRef);
    await waitFor("the writer's source saw istiod's status", () => {
      const o = source.get(apKey) as (Live & { status?: { validationMessages?: unknown } }) | undefined;
      return o?.status?.validationMessages !== undefined;
    });
    let w = await startStatusWriter();
    const accepted = cond("WaypointAccepted", true, "Accepted");
    const translated = cond("waymark.dev/Translated", true, "Translated");
    await putJson(statusKv, apKey, entry(apRef, { conditions: [accepted, translated] }));
    await putJson(statusKv, objectKey(raRef), entry(raRef, { conditions: [accepted] }));
    const live = async (plural: string, name: string) =>
      (await get(plural, name)) as Live & { status?: { validationMessages?: unknown } };
    const types = async () =>
      ((await live("authorizationpolicy", apRef.name)).status?.conditions ?? []).map((c) => c.type);
    await waitFor(
      "our conditions written on the AuthorizationPolicy",
      async () => (await types()).length === 3,
    );
    let ap = await live("authorizationpolicy", apRef.name);
    assert.deepEqual(ap.status?.conditions, [theirs, accepted, translated]);
    assert.deepEqual(ap.status?.validationMessages, messages, "istiod's messages are untouched");
    await waitFor("our condition written on the RequestAuthentication", async () =>
      (await live("requestauthentication", raRef.name)).status?.conditions?.some(
        (c) => c.type === accepted.type,
      ),
    );
    // A restarted writer (nothing remembered) finds istiod's condition and messages beside ours and
    // writes nothing: the comparison is by our condition types only.
    await waitFor("the writer's source saw our conditions", () =>
      [apKey, objectKey(raRef)].every((k) =>
        ((source.get(k) as Live | undefined)?.status?.conditions ?? []).some((c) => c.type === accepted.type),
      ),
    );
    await w.stop();
    w = await startStatusWriter();
    await w.idle();
    assert.equal(w.writes, 0, "no apply when only istiod's part differs");
    assert.equal(
      (await live("authorizationpolicy", apRef.name)).metadata.resourceVersion,
      ap.metadata.resourceVersion,
    );

    // Translated no longer computed (and WaypointAccepted changed): it goes, istiod's stays.
    const unbound = cond("WaypointAccepted", false, "TargetNotFound");
    await putJson(statusKv, apKey, entry(apRef, { conditions: [unbound] }));
    await waitFor("Translated removed", async () => (await types()).length === 2);
    ap = await live("authorizationpolicy", apRef.name);
    assert.deepEqual(ap.status?.conditions, [theirs, unbound]);

    // The policy no longer gets a status from Waymark (a selector, say): ours go, istiod's stay.
    await statusKv.delete(apKey);
    await waitFor("our conditions withdrawn", async () => (await types()).length === 1);
    ap = await live("authorizationpolicy", apRef.name);
    assert.deepEqual(ap.status?.conditions, [theirs]);
    assert.deepEqual(ap.status?.validationMessages, messages);
    await w.stop();
  });

  test("infra: applied, skipped when unchanged, re-created when deleted by hand, deleted when its entry goes", async () => {
    await apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "wp", namespace: NS },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    });
    const gw = await get("gateway", "wp");
    const owner = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      name: "wp",
      uid: gw.metadata.uid,
      controller: true,
    };
    const labels = { "gateway.networking.k8s.io/gateway-name": "wp" };
    const meta = (name: string) => ({ name, namespace: NS, labels, ownerReferences: [owner] });
    const objects = (bootstrap: string): KubeObject[] => [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("wp") },
      { apiVersion: "v1", kind: "ConfigMap", metadata: meta("wp"), data: { "envoy.yaml": bootstrap } },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta("wp"),
        spec: {
          selector: labels,
          ports: [
            { name: "proxy", port: 15088, protocol: "TCP" },
            { name: "mesh", port: 15008, protocol: "TCP" },
          ],
        },
      },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: meta("wp"),
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: "wp",
              containers: [{ name: "envoy", image: "envoyproxy/envoy:v1.40.0" }],
            },
          },
        },
      },
    ];
    const infraEntry = (name: string, objs: KubeObject[]): InfraEntry => ({
      waypoint: { namespace: NS, name },
      objects: objs,
      hash: String(objs.length),
      computedAt: new Date().toISOString(),
    });
    const KINDS = ["serviceaccount", "configmap", "service", "deployment"];
    const versions = async () => {
      const out: Record<string, string> = {};
      for (const k of KINDS) out[k] = (await get(k, "wp")).metadata.resourceVersion;
      return out;
    };

    const w = new InfraWriter({
      client: client(),
      infra: infraKv,
      log,
      fieldManager: FIELD_MANAGER,
      resyncMs: 400,
    });
    stops.push(() => w.stop());
    await w.start();
    w.setLeading(true);
    await putJson(infraKv, infraKey({ namespace: NS, name: "wp" }), infraEntry("wp", objects("v1")));
    await waitFor("four objects applied", () => w.writes === 4);
    for (const k of KINDS) {
      const o = await get(k, "wp");
      assert.match(o.metadata.annotations?.[APPLIED_HASH] ?? "", /^[0-9a-f]{16}$/, `${k} carries the hash`);
      assert.ok(
        o.metadata.managedFields?.some((f) => f.manager === FIELD_MANAGER && f.operation === "Apply"),
        `${k} applied with Waymark's field manager`,
      );
    }
    const v1 = await versions();

    // The same entry again (and periodic re-checks): nothing written.
    await putJson(infraKv, infraKey({ namespace: NS, name: "wp" }), infraEntry("wp", objects("v1")));
    await new Promise((r) => setTimeout(r, 1000)); // two re-checks
    await w.idle();
    assert.equal(w.writes, 4);
    assert.deepEqual(await versions(), v1);

    // One object changed: only it is applied.
    await putJson(infraKv, infraKey({ namespace: NS, name: "wp" }), infraEntry("wp", objects("v2")));
    await waitFor(
      "the ConfigMap updated",
      async () => (await get("configmap", "wp")).data?.["envoy.yaml"] === "v2",
    );
    await w.idle();
    assert.equal(w.writes, 5);
    const v2 = await versions();
    for (const k of KINDS) if (k !== "configmap") assert.equal(v2[k], v1[k], `${k} not written again`);

    // Deleted by hand: the next re-check brings it back.
    await kubectl(["-n", NS, "delete", "configmap", "wp"]);
    await waitFor("the ConfigMap re-created", () => exists("configmap", "wp"));
    assert.equal((await get("configmap", "wp")).data?.["envoy.yaml"], "v2");
    await w.idle();
    assert.equal(w.writes, 6);

    // Another waypoint's entry, then wp's entry goes: wp's objects are deleted, the other's stay.
    await putJson(
      infraKv,
      infraKey({ namespace: NS, name: "wp2" }),
      infraEntry("wp2", [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "wp2", namespace: NS } },
      ]),
    );
    await waitFor("wp2 applied", () => exists("serviceaccount", "wp2"));
    await infraKv.delete(infraKey({ namespace: NS, name: "wp" }));
    await waitFor("wp's objects deleted", async () => {
      for (const k of KINDS) if (await exists(k, "wp")) return false;
      return true;
    });
    assert.equal(w.deletes, 4);
    assert.ok(await exists("serviceaccount", "wp2"));
  });
});
