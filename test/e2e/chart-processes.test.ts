// The three services as separate processes with the Helm chart's configuration: the environment of
// each rendered Deployment (downward API, Secrets and $(VAR) references resolved as the kubelet
// does), the command of each image's Dockerfile ENTRYPOINT, and as many processes as the Deployment
// has replicas (two translators electing a leader, two xds-servers). NATS runs with the chart's
// nats.conf, so every service logs in as its own user with the chart's permissions. Only what a pod
// has and a laptop does not is changed: addresses become loopback ports, and the watcher reads a
// directory (the example) instead of the Kubernetes API. Then one xds-server replica is stopped: the
// Envoys reconnect to the other and stay on the latest version.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { Bucket, createLogger, manifestKey, type ProxyRecord, type WaypointManifest } from "@waymark/api";
import { connectBus, getJson, openBucket } from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import {
  type EnvoyProc,
  freePort,
  type Httpbin,
  type Proc,
  requireEnv,
  startEnvoy,
  startHttpbin,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { renderBootstrap } from "@waymark/waypoint";
import { copyExample } from "../lib/example.ts";
import { find, NAMESPACE, type Obj, parseObjects, RELEASE, renderChart } from "../lib/helm.ts";
import { echoedHeaders, httpGet } from "../lib/http.ts";

const WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };
const SERVICES = ["watcher", "translator", "xds-server"] as const;

/** A container's environment as the kubelet resolves it (fieldRef, secretKeyRef, $(VAR)). */
function containerEnv(container: Obj, pod: string, secrets: Map<string, Record<string, string>>) {
  const out: Record<string, string> = {};
  for (const e of (container["env"] ?? []) as Obj[]) {
    let v: string;
    if (e["value"] !== undefined) {
      v = String(e["value"]).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => out[n] ?? m);
    } else if (e["valueFrom"]?.["fieldRef"]) {
      const path = e["valueFrom"]["fieldRef"]["fieldPath"];
      v = path === "metadata.name" ? pod : path === "metadata.namespace" ? NAMESPACE : "";
      assert.ok(v, `unsupported fieldRef ${path}`);
    } else if (e["valueFrom"]?.["secretKeyRef"]) {
      const ref = e["valueFrom"]["secretKeyRef"];
      const value = secrets.get(ref["name"])?.[ref["key"]];
      assert.ok(value !== undefined, `secret ${ref["name"]}/${ref["key"]} is not rendered`);
      v = value;
    } else {
      throw new Error(`unsupported env entry ${JSON.stringify(e)}`);
    }
    out[e["name"]] = v;
  }
  return out;
}

/** The command of a service's image: the Dockerfile's ENTRYPOINT, run from the repository root. */
function entrypoint(svc: string): string[] {
  const dockerfile = readFileSync(join(REPO_ROOT, "deploy", "docker", `${svc}.Dockerfile`), "utf8");
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  assert.ok(m, `${svc}.Dockerfile has an exec-form ENTRYPOINT`);
  const argv = JSON.parse(m[1]!) as string[];
  assert.equal(argv[0], "node");
  return [process.execPath, ...argv.slice(1)];
}

interface Pod {
  svc: (typeof SERVICES)[number];
  name: string;
  proc: Proc;
  metricsUrl: string;
  readyPath: string;
  xdsPort?: number;
  start(): Proc;
}

describe("the chart's configuration, as separate processes", { timeout: 180_000 }, () => {
  const logDir = tempDir("e2e-chart");
  const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
  const ports: Record<string, number> = {};
  const pods: Pod[] = [];
  const envoys: EnvoyProc[] = [];
  const stops: Array<() => Promise<unknown>> = [];
  let objs: Obj[];
  let natsUrl: string;
  let exampleDir: string;
  let passwords: Record<string, string>;

  const get = (svc: string) => httpGet(ports[`standin-${svc}`]!, `${svc}:8000`, "/get", {});
  const proxiesOf = async (p: Pod) =>
    ((await (await fetch(`${p.metricsUrl}/debug/proxies`)).json()) as { proxies: ProxyRecord[] }).proxies;

  before(async () => {
    for (const k of ["httpbin2", "httpbin3", "standin-httpbin2", "standin-httpbin3", "nats", "nats-monitor"])
      ports[k] = await freePort();
    objs = parseObjects(renderChart("xds-replicas-2"));
    const secrets = new Map<string, Record<string, string>>();
    for (const s of objs.filter((o) => o["kind"] === "Secret")) {
      secrets.set(
        s["metadata"]["name"],
        Object.fromEntries(
          Object.entries(s["data"] as Record<string, string>).map(([k, v]) => [
            k,
            Buffer.from(v, "base64").toString(),
          ]),
        ),
      );
    }
    passwords = secrets.get(`${RELEASE}-nats-auth`)!;

    // NATS: the StatefulSet's container with the ConfigMap's nats.conf.
    const sts = find(objs, "StatefulSet", `${RELEASE}-nats`);
    const natsCtr = sts["spec"]["template"]["spec"]["containers"][0];
    const confFile = join(logDir, "nats.conf");
    // The volume's mount point (/data) becomes a test directory.
    const conf: string = find(objs, "ConfigMap", `${RELEASE}-nats`)["data"]["nats.conf"];
    assert.match(conf, /store_dir: \/data\n/);
    writeFileSync(confFile, conf.replace("store_dir: /data\n", `store_dir: ${join(logDir, "jetstream")}\n`));
    const natsArgs = (natsCtr["args"] as string[]).map((a) => (a === "/etc/nats/nats.conf" ? confFile : a));
    const nats = startProcess({
      name: "nats-server",
      command: requireEnv("WAYMARK_NATS_SERVER", "run scripts/bootstrap.sh"),
      args: [
        ...natsArgs,
        ...["-a", "127.0.0.1", "-p", String(ports["nats"]), "-m", String(ports["nats-monitor"])],
      ],
      env: containerEnv(natsCtr, `${RELEASE}-nats-0`, secrets),
      logDir,
    });
    stops.push(() => nats.stop());
    const natsReady = natsCtr["readinessProbe"]["httpGet"]["path"];
    await waitFor(
      "nats ready",
      async () => (await fetch(`http://127.0.0.1:${ports["nats-monitor"]}${natsReady}`)).ok,
    );
    natsUrl = `nats://127.0.0.1:${ports["nats"]}`;

    const backends: Httpbin[] = await Promise.all(
      ["httpbin2", "httpbin3"].map((name) => startHttpbin({ name, port: ports[name]!, logDir })),
    );
    stops.push(...backends.map((b) => () => b.stop()));
    exampleDir = copyExample({ httpbin2: ports["httpbin2"]!, httpbin3: ports["httpbin3"]! });

    // The services: one process per replica of each Deployment.
    for (const svc of SERVICES) {
      const d = find(objs, "Deployment", `${RELEASE}-${svc}`);
      const ctr = d["spec"]["template"]["spec"]["containers"][0];
      const replicas = d["spec"]["replicas"] as number;
      for (let i = 0; i < replicas; i++) {
        const name = `${RELEASE}-${svc}-${i}`;
        const env = containerEnv(ctr, name, secrets);
        const metricsPort = await freePort();
        const xdsPort = svc === "xds-server" ? await freePort() : undefined;
        // Loopback instead of the pod network; the NATS user and password stay as rendered.
        env["WAYMARK_NATS_URL"] = env["WAYMARK_NATS_URL"]!.replace(/@[^/]+$/, `@127.0.0.1:${ports["nats"]}`);
        env["WAYMARK_METRICS_ADDRESS"] = `127.0.0.1:${metricsPort}`;
        if (xdsPort) env["WAYMARK_XDS_ADDRESS"] = `127.0.0.1:${xdsPort}`;
        // No API server here, so no service-account tokens: proxy authentication (the chart's
        // default) is off for this test; test/e2e/proxy-auth.test.ts covers it.
        if (xdsPort) {
          assert.equal(env["WAYMARK_XDS_AUTH"], "kubernetes");
          env["WAYMARK_XDS_AUTH"] = "none";
        }
        if (svc === "watcher") env["WAYMARK_SOURCE"] = `dir:${exampleDir}`;
        if (svc === "translator") env["WAYMARK_BIND_ADDRESS"] = bindAddress;
        const [command, ...args] = entrypoint(svc);
        const start = () =>
          startProcess({
            name,
            command: command!,
            args,
            env: { PATH: process.env["PATH"], ...env },
            cwd: REPO_ROOT,
            logDir,
          });
        const metricsPath = ctr["readinessProbe"]["httpGet"]["path"] as string;
        pods.push({
          svc,
          name,
          proc: start(),
          start,
          metricsUrl: `http://127.0.0.1:${metricsPort}`,
          readyPath: metricsPath,
          ...(xdsPort ? { xdsPort } : {}),
        });
      }
    }
    stops.push(() => Promise.all(pods.map((p) => p.proc.stop(5000))));

    const standin = startProcess({
      name: "ztunnel-standin",
      command: process.execPath,
      args: [
        join(REPO_ROOT, "tools", "ztunnel-standin", "src", "main.ts"),
        ...[
          "--waypoint",
          `${bindAddress}:15088`,
          "--identity",
          "spiffe://cluster.local/ns/httpbin/sa/client",
        ],
        ...["--route", `127.0.0.1:${ports["standin-httpbin2"]}=10.96.0.12:8000`],
        ...["--route", `127.0.0.1:${ports["standin-httpbin3"]}=10.96.0.13:8000`],
      ],
      logDir,
    });
    stops.push(() => standin.stop());

    const xds = pods.filter((p) => p.svc === "xds-server");
    for (let i = 0; i < 2; i++) {
      const envoy = await startEnvoy({
        name: `envoy-waypoint-${i}`,
        bootstrap: renderBootstrap({
          waypoint: WAYPOINT,
          podName: `${WAYPOINT.name}-${i}`,
          xds: xds.map((p) => ({ host: "127.0.0.1", port: p.xdsPort! })),
        }),
        logDir,
      });
      envoys.push(envoy);
      stops.push(() => envoy.stop());
    }
    await waitFor(
      "the waypoint serves httpbin2 through the stand-in",
      async () => {
        for (const p of pods)
          if (p.proc.child.exitCode !== null)
            throw new Error(`${p.name} exited:\n${p.proc.log().slice(-3000)}`);
        return echoedHeaders(await get("httpbin2"))["App"]?.[0] === "httpbin2";
      },
      45_000,
      100,
    );
    for (const e of envoys)
      await waitFor(`${e.proc.name} ready`, async () => (await fetch(`${e.adminUrl}/ready`)).ok, 30_000, 100);
    console.log(`logs: ${logDir}`);
  });

  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  });

  test("each Deployment's replicas run, and each answers its readiness probe", async () => {
    assert.deepEqual(
      pods.map((p) => p.name),
      [
        `${RELEASE}-watcher-0`,
        `${RELEASE}-translator-0`,
        `${RELEASE}-translator-1`,
        `${RELEASE}-xds-server-0`,
        `${RELEASE}-xds-server-1`,
      ],
    );
    for (const p of pods)
      await waitFor(
        `${p.name} ${p.readyPath}`,
        async () => (await fetch(p.metricsUrl + p.readyPath)).ok,
        20_000,
        100,
      );
    // One translator leads (the pod name is its lease identity); the other stands by.
    const translators = pods.filter((p) => p.svc === "translator").map((p) => p.proc.log());
    assert.equal(translators.filter((l) => /"msg":"elected leader"/.test(l)).length, 1);
    assert.equal(translators.filter((l) => /"msg":"standing by"/.test(l)).length, 1);
  });

  test("the services work within the chart's NATS permissions; others' buckets are refused", async () => {
    for (const p of pods) assert.doesNotMatch(p.proc.log(), /[Pp]ermissions? [Vv]iolation/, p.name);
    // The xds-server's user may not write wm-objects; the watcher's may not write wm-xds.
    for (const [user, subject] of [
      ["xds-server", "$KV.wm-objects.core.Service.x.y"],
      ["watcher", "$KV.wm-xds.manifest.x.y"],
      ["cli", "$KV.wm-status.core.Service.x.y"],
    ] as const) {
      const nc = await connect({ servers: natsUrl, user, pass: passwords[user]!, reconnect: false });
      try {
        await assert.rejects(nc.request(subject, "x", { timeout: 2000 }), /[Pp]ermission|violation/, user);
      } finally {
        await nc.close().catch(() => {});
      }
    }
    // A wrong password is refused.
    await assert.rejects(connect({ servers: natsUrl, user: "watcher", pass: "wrong", reconnect: false }));
  });

  test("one xds-server replica stops: the Envoys reconnect to the other and stay on the latest version", async () => {
    const xds = pods.filter((p) => p.svc === "xds-server");
    const nodeIds = envoys.map((_, i) => `${WAYPOINT.name}-${i}.${WAYPOINT.namespace}`).sort();
    const connected = async (p: Pod) => (await proxiesOf(p)).map((r) => r.nodeId).sort();
    await waitFor(
      "both Envoys connected",
      async () =>
        [...(await connected(xds[0]!)), ...(await connected(xds[1]!))].sort().join() === nodeIds.join(),
      20_000,
      100,
    );
    // Stop the replica that serves more Envoys (at least one).
    const counts = await Promise.all(xds.map(async (p) => (await connected(p)).length));
    const victim = counts[0]! >= counts[1]! ? xds[0]! : xds[1]!;
    const survivor = victim === xds[0] ? xds[1]! : xds[0]!;
    assert.ok((await connected(victim)).length >= 1);
    await victim.proc.stop(5000);
    await waitFor(
      "every Envoy on the surviving replica",
      async () => (await connected(survivor)).join() === nodeIds.join(),
      30_000,
      100,
    );

    // A change after the stop reaches every Envoy through the survivor.
    const file = join(exampleDir, "30-httpbin3-route.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace("value: httpbin3", "value: after-failover"));
    const nc = await connectBus({
      servers: natsUrl.replace("//", `//cli:${passwords["cli"]}@`),
      name: "e2e",
      log: createLogger("e2e"),
    });
    try {
      const xdsKv = await openBucket(nc, Bucket.xds);
      const latest = await waitFor(
        "a manifest with the change",
        async () => {
          const m = await getJson<WaypointManifest>(xdsKv, manifestKey(WAYPOINT));
          const h = echoedHeaders(await get("httpbin3"));
          return h["App"]?.[0] === "after-failover" ? m : undefined;
        },
        20_000,
        100,
      );
      // Each Envoy holds exactly the latest resources: in delta xDS a resource's version is its blob
      // hash, which the manifest names. (A reconnected Envoy is sent only what it lacks, so the
      // survivor's records need not list every type; Envoy's own config dump is the ground truth. Its
      // dump does not list delta EDS resources, so endpoints are checked by the requests below.)
      const want = (type: string) => latest.resources[`type.googleapis.com/envoy.config.${type}`] ?? {};
      let seen: unknown;
      await waitFor(
        "every Envoy holds the latest version of every resource",
        async () => {
          const held = await Promise.all(envoys.map((e) => heldResources(e)));
          seen = held;
          return held.every(
            (h) =>
              sameMap(h.clusters, want("cluster.v3.Cluster")) &&
              sameMap(h.listeners, want("listener.v3.Listener")) &&
              sameMap(h.routes, want("route.v3.RouteConfiguration")),
          );
        },
        20_000,
        100,
      ).catch((err: unknown) => {
        throw new Error(
          `${String(err)}\nwant ${JSON.stringify(latest.resources)}\nheld ${JSON.stringify(seen)}`,
        );
      });
      for (let i = 0; i < 20; i++)
        assert.deepEqual(echoedHeaders(await get("httpbin3"))["App"], ["after-failover"]);
    } finally {
      await nc.close();
    }
  });
});

const sameMap = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Name → version of the dynamic resources an Envoy holds, from its admin config dump. */
async function heldResources(e: EnvoyProc) {
  const dump = JSON.parse(await e.admin("/config_dump")) as { configs: Obj[] };
  const out = {
    clusters: {} as Record<string, string>,
    listeners: {} as Record<string, string>,
    routes: {} as Record<string, string>,
  };
  for (const c of dump.configs) {
    for (const x of c["dynamic_active_clusters"] ?? [])
      out.clusters[x["cluster"]["name"]] = x["version_info"];
    for (const x of c["dynamic_listeners"] ?? [])
      if (x["active_state"]) out.listeners[x["name"]] = x["active_state"]["version_info"];
    for (const x of c["dynamic_route_configs"] ?? [])
      out.routes[x["route_config"]["name"]] = x["version_info"];
  }
  return out;
}
