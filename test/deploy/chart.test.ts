// The Helm chart: `helm lint`, golden renderings for each values set of test/deploy/values
// (regenerate with UPDATE_GOLDEN=1 and review the diff), and checks that each rendering says what its
// values say: replicas, NATS, tracing, least privilege.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { REPO_ROOT } from "@waymark/devstack";
import {
  CHART_DIR,
  find,
  helm,
  KUBE_VERSION,
  normalize,
  type Obj,
  parseObjects,
  RELEASE,
  renderChart,
  VALUES_DIR,
} from "../lib/helm.ts";

const GOLDEN_DIR = join(REPO_ROOT, "test", "deploy", "golden");
const SETS = readdirSync(VALUES_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => f.slice(0, -".yaml".length))
  .sort();
const name = (c: string) => `${RELEASE}-${c}`;

const env = (deploy: Obj): Record<string, Obj> =>
  Object.fromEntries(
    (deploy["spec"]["template"]["spec"]["containers"][0]["env"] as Obj[]).map((e) => [e["name"], e]),
  );

test("helm lint passes (strict) with every values set", () => {
  for (const set of SETS) {
    const out = helm([
      "lint",
      CHART_DIR,
      "--strict",
      "--kube-version",
      KUBE_VERSION,
      "--values",
      join(VALUES_DIR, `${set}.yaml`),
    ]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, `${set}: ${out}`);
  }
});

describe("golden renderings", () => {
  for (const set of SETS) {
    test(set, () => {
      const got = normalize(renderChart(set));
      const file = join(GOLDEN_DIR, `${set}.yaml`);
      if (process.env["UPDATE_GOLDEN"] === "1" || !existsSync(file)) {
        if (process.env["UPDATE_GOLDEN"] !== "1") assert.fail(`no golden ${file}; run with UPDATE_GOLDEN=1`);
        writeFileSync(file, got);
        return;
      }
      assert.equal(got, readFileSync(file, "utf8"), `rendering of ${set} changed; UPDATE_GOLDEN=1 to accept`);
    });
  }
});

test("default: every part, separate Deployments and ServiceAccounts, an HPA for the xds-server", () => {
  const objs = parseObjects(renderChart("default"));
  for (const c of ["watcher", "translator", "xds-server"]) {
    const d = find(objs, "Deployment", name(c));
    assert.equal(d["spec"]["template"]["spec"]["serviceAccountName"], name(c));
    find(objs, "ServiceAccount", name(c));
    find(objs, "PodDisruptionBudget", name(c));
    const ctr = d["spec"]["template"]["spec"]["containers"][0];
    assert.equal(ctr["image"], `ghcr.io/waymark-dev/${c}:0.1.0`);
    assert.equal(ctr["securityContext"]["readOnlyRootFilesystem"], true);
    assert.equal(d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert.equal(ctr["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert.equal(ctr["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert.equal(env(d)["WAYMARK_METRICS_ADDRESS"]!["value"], "0.0.0.0:9090");
    // Each service logs in to NATS as its own user.
    assert.equal(env(d)["NATS_PASSWORD"]!["valueFrom"]["secretKeyRef"]["key"], c);
    assert.match(env(d)["WAYMARK_NATS_URL"]!["value"], new RegExp(`^nats://${c}:\\$\\(NATS_PASSWORD\\)@`));
    assert.equal(env(d)["OTEL_EXPORTER_OTLP_ENDPOINT"], undefined, "tracing is off by default");
  }
  const xds = find(objs, "Deployment", name("xds-server"));
  assert.equal(xds["spec"]["replicas"], undefined, "the HPA owns the replica count");
  const hpa = find(objs, "HorizontalPodAutoscaler", name("xds-server"));
  assert.equal(hpa["spec"]["minReplicas"], 2);
  assert.equal(hpa["spec"]["maxReplicas"], 10);
  const svc = find(objs, "Service", name("xds-server"));
  assert.deepEqual(
    svc["spec"]["ports"].map((p: Obj) => [p["name"], p["port"]]),
    [["grpc-xds", 18000]],
  );
  find(objs, "StatefulSet", name("nats"));
  find(objs, "GatewayClass", "kgateway-waypoint");
  assert.equal(
    objs.some((o) => o["kind"] === "Deployment" && o["metadata"]["name"] === name("jaeger")),
    false,
  );
});

test("only the watcher has Kubernetes credentials", () => {
  const objs = parseObjects(renderChart("default"));
  const bindings = objs.filter((o) => o["kind"] === "ClusterRoleBinding" || o["kind"] === "RoleBinding");
  const subjects = bindings.flatMap((b) => b["subjects"].map((s: Obj) => s["name"]));
  assert.deepEqual([...new Set(subjects)], [name("watcher")]);
  for (const c of ["translator", "xds-server"]) {
    assert.equal(find(objs, "ServiceAccount", name(c))["automountServiceAccountToken"], false);
    const pod = find(objs, "Deployment", name(c))["spec"]["template"]["spec"];
    assert.equal(pod["automountServiceAccountToken"], false);
  }
});

test("2 and 5 xds-server replicas: the Deployment says so, with no HPA", () => {
  for (const n of [2, 5]) {
    const objs = parseObjects(renderChart(`xds-replicas-${n}`));
    assert.equal(find(objs, "Deployment", name("xds-server"))["spec"]["replicas"], n);
    assert.equal(
      objs.some((o) => o["kind"] === "HorizontalPodAutoscaler"),
      false,
    );
    // The other services do not change.
    assert.equal(find(objs, "Deployment", name("translator"))["spec"]["replicas"], 2);
    assert.equal(find(objs, "Deployment", name("watcher"))["spec"]["replicas"], 1);
  }
  // With autoscaling on, replicas is the HPA's minimum.
  const hpa = find(
    parseObjects(renderChart("default", ["xdsServer.replicas=5"])),
    "HorizontalPodAutoscaler",
    name("xds-server"),
  );
  assert.equal(hpa["spec"]["minReplicas"], 5);
});

test("external NATS: no NATS objects, the services use the given URL and Secret", () => {
  const objs = parseObjects(renderChart("external-nats"));
  assert.equal(
    objs.some((o) => o["metadata"]["name"].startsWith(name("nats"))),
    false,
    "no chart-made NATS",
  );
  for (const c of ["watcher", "translator", "xds-server"]) {
    const e = env(find(objs, "Deployment", name(c)));
    assert.equal(
      e["WAYMARK_NATS_URL"]!["value"],
      `nats://${c}:$(NATS_PASSWORD)@nats.messaging.svc.cluster.local:4222`,
    );
    assert.deepEqual(e["NATS_PASSWORD"]!["valueFrom"]["secretKeyRef"], {
      name: "waymark-nats-credentials",
      key: c,
    });
  }
  // Without credentials the URL is used as given.
  const plain = parseObjects(renderChart("external-nats", ["nats.external.authSecret="]));
  const e = env(find(plain, "Deployment", name("xds-server")));
  assert.equal(e["WAYMARK_NATS_URL"]!["value"], "nats://nats.messaging.svc.cluster.local:4222");
  assert.equal(e["NATS_PASSWORD"], undefined);
  assert.throws(
    () => renderChart("external-nats", ["nats.external.url="]),
    /nats\.external\.url is required/,
  );
});

test("tracing on: every service exports to the chart's Jaeger, or to the given endpoint", () => {
  const objs = parseObjects(renderChart("tracing"));
  find(objs, "Deployment", name("jaeger"));
  find(objs, "Service", name("jaeger"));
  for (const c of ["watcher", "translator", "xds-server"]) {
    const e = env(find(objs, "Deployment", name(c)));
    assert.equal(
      e["OTEL_EXPORTER_OTLP_ENDPOINT"]!["value"],
      `http://${name("jaeger")}.waymark-system.svc:4318`,
    );
  }
  const ext = parseObjects(renderChart("tracing-external"));
  assert.equal(
    env(find(ext, "Deployment", name("translator")))["OTEL_EXPORTER_OTLP_ENDPOINT"]!["value"],
    "http://otel-collector.observability.svc:4318",
  );
  assert.equal(
    ext.some((o) => o["metadata"]["name"] === name("jaeger")),
    false,
  );
  assert.throws(
    () => renderChart("default", ["tracing.enabled=true"]),
    /tracing\.otlpEndpoint or jaeger\.enabled/,
  );
});

test("the waypoints' tracing provider: off by default, else the collector and sampling for the translator", () => {
  const off = env(find(parseObjects(renderChart("default")), "Deployment", name("translator")));
  assert.equal(off["WAYMARK_WAYPOINT_TRACING"], undefined);
  assert.equal(off["WAYMARK_WAYPOINT_TRACING_SAMPLING"], undefined);
  const on = env(find(parseObjects(renderChart("waypoint-tracing")), "Deployment", name("translator")));
  assert.equal(on["WAYMARK_WAYPOINT_TRACING"]!["value"], "otlp-grpc://otel-collector.observability.svc:4317");
  assert.equal(on["WAYMARK_WAYPOINT_TRACING_SAMPLING"]!["value"], "0.5");
  const whole = env(
    find(
      parseObjects(renderChart("waypoint-tracing", ["translator.waypointTracing.sampling=100"])),
      "Deployment",
      name("translator"),
    ),
  );
  assert.equal(whole["WAYMARK_WAYPOINT_TRACING_SAMPLING"]!["value"], "100");
});

test("NATS users may publish only to their own buckets' subjects", () => {
  const conf: string = find(parseObjects(renderChart("default")), "ConfigMap", name("nats"))["data"][
    "nats.conf"
  ];
  const users = conf.split(/\n\s*\{\n/).slice(1);
  const allow = (user: string) => {
    const block = users.find((u) => u.includes(`user: "${user}"`));
    assert.ok(block, `user ${user}`);
    return [...block.matchAll(/"(\$[^"]+)"/g)].map((m) => m[1]!);
  };
  const kvWrites = (user: string) => allow(user).filter((s) => s.startsWith("$KV."));
  assert.deepEqual(kvWrites("watcher"), ["$KV.wm-objects.>", "$KV.wm-status.>", "$KV.wm-issuer.>"]);
  assert.deepEqual(kvWrites("translator"), [
    "$KV.wm-xds.>",
    "$KV.wm-status.>",
    "$KV.wm-infra.>",
    "$KV.wm-leases.>",
  ]);
  assert.deepEqual(kvWrites("xds-server"), ["$KV.wm-proxies.>", "$KV.wm-replicas.>"]);
  assert.deepEqual(kvWrites("cli"), []);
  // The xds-server never touches wm-objects; the watcher never reads wm-xds.
  assert.equal(
    allow("xds-server").some((s) => s.includes("wm-objects")),
    false,
  );
  assert.equal(
    allow("watcher").some((s) => s.includes("wm-xds")),
    false,
  );
});
