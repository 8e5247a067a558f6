// The images of scripts/build-images.sh, run as a cluster would run them but without one: each OCI
// archive is unpacked (umoci) into a runtime bundle and started with runc as the image's user (uid
// 1000) on a read-only root filesystem, with the image's own environment plus the service's
// configuration. The watcher reads the example objects from a read-only bind mount, the translator
// and xds-server work against a real NATS, and all three answer /readyz. The Envoy image prints its
// version and, started with a waypoint bootstrap, takes its listeners from the xds-server container;
// the go-httpbin image serves /get. The containers share the host's network namespace (loopback
// addresses and free ports, as the other tests use): what is under test is the image, not a pod
// network. Sizes of the archives and of the unpacked root filesystems are printed.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "@waymark/devstack";
import {
  freePort,
  type NatsServer,
  type Proc,
  startNats,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { renderBootstrap, WAYPOINT_DRAIN_ARGS } from "@waymark/waypoint";
import { copyExample } from "../lib/example.ts";

const SERVICES = ["watcher", "translator", "xds-server"] as const;
const WAYPOINT = { namespace: "httpbin", name: "kgateway-waypoint" };

const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = ["runc", "umoci", "buildah"].filter((c) => !onPath(c));
const isRoot = process.getuid?.() === 0;
const skip =
  missing.length > 0
    ? `needs ${missing.join(", ")} (apt-get install buildah umoci runc; scripts/lib/toolchain.ts ensureImages)`
    : !isRoot
      ? "runc and umoci unpack run as root here"
      : false;

/** The images of $WAYMARK_IMAGES, building them first (cached) when it is not set. */
function imagesDir(): string {
  if (!process.env["WAYMARK_IMAGES"]) {
    const out = execFileSync(join(REPO_ROOT, "scripts", "build-images.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    for (const m of out.matchAll(/^export ([A-Z_]+)="(.*)"$/gm)) process.env[m[1]!] = m[2]!;
  }
  return process.env["WAYMARK_IMAGES"]!;
}

interface Image {
  file: string;
  ref: string;
  bytes: number;
}

/** images.txt: archive file, the reference in it, the archive's size in bytes. */
function readImages(dir: string): Map<string, Image> {
  const m = new Map<string, Image>();
  for (const line of readFileSync(join(dir, "images.txt"), "utf8").trim().split("\n")) {
    const [file, ref, bytes] = line.split(" ");
    m.set(file!.replace(/\.tar$/, ""), { file: join(dir, file!), ref: ref!, bytes: Number(bytes) });
  }
  return m;
}

interface Spec {
  process: {
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    terminal?: boolean;
  };
  root: { path: string; readonly?: boolean };
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: { namespaces: Array<{ type: string }> };
}

interface Container {
  id: string;
  proc: Proc;
  /** The pid of the container's first process, on the host. */
  pid(): number;
}

describe("images: run read-only as uid 1000 with runc", { skip, timeout: 40 * 60_000 }, () => {
  const logDir = tempDir("images");
  const runcRoot = join(logDir, "runc");
  const bundles = new Map<string, { dir: string; spec: Spec }>();
  const containers: Container[] = [];
  const sizes: string[] = [];
  let images: Map<string, Image>;
  let nats: NatsServer;
  const ports: Record<string, number> = {};

  /** Unpacks an image's archive into a runtime bundle (rootfs + config.json made from the image's config). */
  function unpack(name: string): { dir: string; spec: Spec } {
    const image = images.get(name);
    assert.ok(image, `${name} is not in images.txt`);
    const layout = join(logDir, `${name}.oci`);
    const dir = join(logDir, `${name}.bundle`);
    mkdirSync(layout, { recursive: true });
    execFileSync("tar", ["-xf", image.file, "-C", layout]);
    execFileSync("umoci", ["unpack", "--image", `${layout}:${image.ref}`, dir], { stdio: "ignore" });
    rmSync(layout, { recursive: true, force: true });
    const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Spec;
    const rootfsBytes = Number(
      execFileSync("du", ["-sb", join(dir, "rootfs")], { encoding: "utf8" }).split("\t")[0],
    );
    sizes.push(
      `${name}: archive ${(image.bytes / 2 ** 20).toFixed(1)} MiB, unpacked ${(rootfsBytes / 2 ** 20).toFixed(1)} MiB (${image.ref})`,
    );
    const b = { dir, spec };
    bundles.set(name, b);
    return b;
  }

  /**
   * Starts a container from a bundle: the image's process (or `args`), its environment plus `env`,
   * the root filesystem read-only, the host's network namespace, and `mounts` bound read-only.
   */
  function run(
    name: string,
    o: { env?: Record<string, string>; args?: string[]; mounts?: Record<string, string> } = {},
  ): Container {
    const b = bundles.get(name) ?? unpack(name);
    const spec = structuredClone(b.spec);
    spec.root.readonly = true;
    spec.process.terminal = false;
    if (o.args) spec.process.args = o.args;
    spec.process.env = [...spec.process.env, ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)];
    spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
    for (const [destination, source] of Object.entries(o.mounts ?? {}))
      spec.mounts.push({ destination, type: "bind", source, options: ["rbind", "ro"] });
    writeFileSync(join(b.dir, "config.json"), JSON.stringify(spec));
    const id = `${name}-${process.pid}-${containers.length}`;
    // runc reads config.json when it creates the container: the next run may write its own.
    const proc = startProcess({
      name: id,
      command: "runc",
      args: ["--root", runcRoot, "run", "--bundle", b.dir, id],
      logDir,
    });
    const c: Container = {
      id,
      proc,
      pid: () => {
        const state = JSON.parse(
          execFileSync("runc", ["--root", runcRoot, "state", id], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "ignore"], // "container does not exist" until it is created
          }),
        );
        return state.pid as number;
      },
    };
    containers.push(c);
    return c;
  }

  /** Waits for a container's process to be created (runc state answers), then checks uid and root mount. */
  async function assertUnprivileged(c: Container): Promise<void> {
    const pid = await waitFor(
      `${c.id} created`,
      () => {
        if (c.proc.child.exitCode !== null) throw new Error(`${c.id} exited:\n${c.proc.log().slice(-3000)}`);
        return c.pid();
      },
      60_000,
      100,
    );
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    // Real, effective, saved and file-system uid and gid: all 1000.
    assert.match(status, /^Uid:\t1000\t1000\t1000\t1000$/m, `${c.id} does not run as uid 1000`);
    assert.match(status, /^Gid:\t1000\t1000\t1000\t1000$/m, `${c.id} does not run as gid 1000`);
    const root = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .find((f) => f[4] === "/");
    assert.ok(root, `${c.id}: no root mount in mountinfo`);
    assert.ok(root[5]!.split(",").includes("ro"), `${c.id}: root filesystem is mounted ${root[5]}`);
  }

  const readyz = async (c: Container, port: number) => {
    if (c.proc.child.exitCode !== null) throw new Error(`${c.id} exited:\n${c.proc.log().slice(-3000)}`);
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return r.status === 200;
  };

  const running = new Map<string, Container>();

  before(async () => {
    images = readImages(imagesDir());
    nats = await startNats({ logDir });
    for (const k of ["httpbin", "envoy-admin", "xds", ...SERVICES]) ports[k] = await freePort();
  });

  after(async () => {
    for (const c of containers.reverse()) {
      await c.proc.stop(5000).catch(() => {});
      spawnSync("runc", ["--root", runcRoot, "delete", "--force", c.id]);
    }
    await nats?.stop();
    console.log(`image sizes:\n  ${sizes.join("\n  ")}`);
    console.log(`logs: ${logDir}`);
    for (const b of bundles.values()) rmSync(b.dir, { recursive: true, force: true });
  });

  test("go-httpbin: serves /get", async () => {
    const c = run("go-httpbin", {
      args: ["/bin/go-httpbin", "-host", "127.0.0.1", "-port", String(ports["httpbin"])],
    });
    await assertUnprivileged(c);
    const body = await waitFor("go-httpbin /get", async () => {
      if (c.proc.child.exitCode !== null) throw new Error(`exited:\n${c.proc.log()}`);
      const r = await fetch(`http://127.0.0.1:${ports["httpbin"]}/get?from=image`);
      return r.status === 200 ? ((await r.json()) as { args: Record<string, string[]> }) : undefined;
    });
    assert.deepEqual(body.args["from"], ["image"]);
  });

  test("the three Waymark images: each answers /readyz (watcher on a read-only directory, translator and xds-server on NATS)", async () => {
    // The standalone example, its backends at the go-httpbin container.
    const objects = copyExample({ httpbin2: ports["httpbin"]!, httpbin3: ports["httpbin"]! });
    chmodSync(objects, 0o755); // a temporary directory is the test's own (0700): the watcher runs as 1000
    const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
    const common = { WAYMARK_NATS_URL: nats.url };
    const env: Record<(typeof SERVICES)[number], Record<string, string>> = {
      watcher: { WAYMARK_SOURCE: "dir:/etc/waymark/objects" },
      translator: { WAYMARK_BIND_ADDRESS: bindAddress },
      "xds-server": { WAYMARK_XDS_ADDRESS: `127.0.0.1:${ports["xds"]}`, WAYMARK_XDS_AUTH: "none" },
    };
    for (const svc of SERVICES) {
      const c = run(`waymark-${svc}`, {
        env: { ...common, ...env[svc], WAYMARK_METRICS_ADDRESS: `127.0.0.1:${ports[svc]}` },
        ...(svc === "watcher" ? { mounts: { "/etc/waymark/objects": objects } } : {}),
      });
      running.set(svc, c);
      await assertUnprivileged(c);
    }
    for (const svc of SERVICES) {
      const c = running.get(svc)!;
      await waitFor(`${svc} /readyz`, () => readyz(c, ports[svc]!), 120_000, 200);
    }
  });

  test("envoy: --version as uid 1000, and a waypoint bootstrap takes its listeners from the xds-server image", async () => {
    const version = run("envoy", { args: ["/usr/local/bin/envoy", "--version"] });
    assert.equal(await version.proc.exited, 0, version.proc.log());
    assert.match(version.proc.log(), /envoy {2}version: [0-9a-f]+\/1\.\d+\.\d+\/Clean\/RELEASE/);

    assert.ok(running.get("xds-server"), "the xds-server container runs (the test before)");
    const bootstrapDir = join(logDir, "envoy-bootstrap");
    mkdirSync(bootstrapDir, { recursive: true });
    const bootstrap = {
      ...renderBootstrap({
        waypoint: WAYPOINT,
        podName: `${WAYPOINT.name}-0`,
        xds: [{ host: "127.0.0.1", port: ports["xds"]! }],
      }),
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports["envoy-admin"] } } },
    };
    writeFileSync(join(bootstrapDir, "bootstrap.json"), JSON.stringify(bootstrap));
    const envoy = run("envoy", {
      args: [
        "/usr/local/bin/envoy",
        ...["-c", "/etc/envoy/bootstrap.json", "--concurrency", "1", "--disable-hot-restart"],
        ...WAYPOINT_DRAIN_ARGS,
      ],
      mounts: { "/etc/envoy": bootstrapDir },
    });
    await assertUnprivileged(envoy);
    const admin = `http://127.0.0.1:${ports["envoy-admin"]}`;
    // Listeners from the control plane: the translator's waypoint listener, served by the xds-server.
    const listeners = await waitFor(
      "envoy's dynamic listeners",
      async () => {
        if (envoy.proc.child.exitCode !== null)
          throw new Error(`envoy exited:\n${envoy.proc.log().slice(-3000)}`);
        const r = await fetch(`${admin}/listeners?format=json`);
        if (!r.ok) return undefined;
        const names = (
          (await r.json()) as { listener_statuses?: Array<{ name: string }> }
        ).listener_statuses?.map((l) => l.name);
        return names && names.length > 0 ? names : undefined;
      },
      60_000,
      200,
    );
    assert.ok(listeners.length > 0);
    assert.equal((await fetch(`${admin}/ready`)).status, 200);
  });
});
