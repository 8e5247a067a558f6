// NATS least privilege and TLS. A real nats-server runs with the Helm chart's rendered nats.conf and
// passwords; each service's user does what its service must (open, write and read its buckets) and is
// refused everywhere else (another service's bucket, a bucket it only reads, the JetStream API to
// delete a stream). What each service may do is written out here, from docs/architecture.md, so the
// test checks the chart against it rather than against itself. Then NATS with TLS (certificates made
// with openssl here): services connect with WAYMARK_NATS_TLS_CA (+ a client certificate), and
// connections without them are refused.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { Bucket, createLogger } from "@waymark/api";
import {
  connectBus,
  getJson,
  type NatsConnection,
  natsTlsFromEnv,
  openBucket,
  putJson,
  watchBucket,
} from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import { freePort, type Proc, requireEnv, startProcess, tempDir, waitFor } from "@waymark/testing";
import { find, parseObjects, RELEASE, renderChart } from "../lib/helm.ts";

const log = createLogger("e2e-nats-permissions", {}, () => {});
const ALL = Object.values(Bucket);
// wm-leases is the translator's leader-election bucket (not in Bucket: only the translator opens it).
const LEASES = "wm-leases";

/** What each service must be able to do, and so may: the buckets it writes and those it only reads. */
const MUST: Record<string, { write: string[]; read: string[] }> = {
  watcher: { write: [Bucket.objects, Bucket.status, Bucket.issuer], read: [Bucket.infra] },
  translator: {
    write: [Bucket.xds, Bucket.status, Bucket.infra, LEASES],
    read: [Bucket.objects],
  },
  "xds-server": { write: [Bucket.proxies, Bucket.replicas], read: [Bucket.xds, Bucket.issuer] },
  cli: { write: [], read: [...ALL, LEASES] },
};

const NATS = requireEnv("WAYMARK_NATS_SERVER", "run scripts/bootstrap.sh");

function startNatsServer(name: string, conf: string, dir: string, env: Record<string, string> = {}) {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  return startProcess({ name, command: NATS, args: ["--config", file], env, logDir: dir });
}

/** A publish to the subject is refused by the server's permissions. */
async function refusedPublish(nc: NatsConnection, subject: string, what: string): Promise<void> {
  await assert.rejects(
    nc.request(subject, "x", { timeout: 2000 }),
    /[Pp]ermission|violation/,
    `${what}: ${subject} must be refused`,
  );
}

describe("the chart's NATS users: each may do what its service must, nothing more", {
  timeout: 60_000,
}, () => {
  const dir = tempDir("e2e-nats-perm");
  let nats: Proc;
  let url: string;
  let passwords: Record<string, string>;
  const conns = new Map<string, NatsConnection>();

  before(async () => {
    const objs = parseObjects(renderChart("default"));
    const secret = find(objs, "Secret", `${RELEASE}-nats-auth`);
    passwords = Object.fromEntries(
      Object.entries(secret["data"] as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    );
    const conf: string = find(objs, "ConfigMap", `${RELEASE}-nats`)["data"]["nats.conf"];
    const port = await freePort();
    nats = startNatsServer(
      "nats-server",
      conf
        .replace("store_dir: /data\n", `store_dir: ${join(dir, "jetstream")}\n`)
        .replace(/^port: \d+$/m, `port: ${port}\nhost: 127.0.0.1`)
        .replace(/^http_port: \d+$/m, ""),
      dir,
      {
        POD_NAME: "nats-0",
        ...Object.fromEntries(
          Object.entries(passwords).map(([u, p]) => [`${u.toUpperCase().replace("-", "_")}_PASSWORD`, p]),
        ),
      },
    );
    url = `nats://127.0.0.1:${port}`;
    await waitFor("nats-server", async () => {
      const nc = await connect({ servers: url, user: "cli", pass: passwords["cli"]!, reconnect: false });
      await nc.close();
      return true;
    });
    for (const user of Object.keys(MUST)) {
      conns.set(
        user,
        await connectBus({ servers: url.replace("//", `//${user}:${passwords[user]}@`), name: user, log }),
      );
    }
  });

  after(async () => {
    for (const nc of conns.values()) await nc.close().catch(() => {});
    await nats?.stop();
  });

  test("every user is in the chart, with a password; a wrong password is refused", async () => {
    assert.deepEqual(Object.keys(passwords).sort(), Object.keys(MUST).sort());
    await assert.rejects(connect({ servers: url, user: "watcher", pass: "wrong", reconnect: false }));
    await assert.rejects(connect({ servers: url, reconnect: false }), Error, "no anonymous user");
  });

  for (const user of ["watcher", "translator", "xds-server"]) {
    test(`${user} opens, writes and reads the buckets it writes`, async () => {
      const nc = conns.get(user)!;
      for (const b of MUST[user]!.write) {
        const kv = await openBucket(nc, b as Bucket, log);
        await putJson(kv, `probe.${user.replace("-", "_")}`, { by: user });
        assert.deepEqual(await getJson(kv, `probe.${user.replace("-", "_")}`), { by: user }, `${user} ${b}`);
      }
    });
  }

  for (const user of Object.keys(MUST)) {
    test(`${user} reads and watches the buckets it reads`, async () => {
      const nc = conns.get(user)!;
      for (const b of MUST[user]!.read) {
        const kv = await openBucket(nc, b as Bucket, log);
        await kv.get("probe.none");
        const w = watchBucket(kv, ">", { onEntry: () => {} }, log);
        await w.ready;
        w.stop();
      }
    });

    test(`${user} cannot write any bucket it does not own, nor delete a stream`, async () => {
      const nc = conns.get(user)!;
      const own = new Set(MUST[user]!.write);
      const others = [...ALL, LEASES].filter((b) => !own.has(b));
      assert.ok(others.length >= 2);
      for (const b of others) await refusedPublish(nc, `$KV.${b}.probe.x`, user);
      for (const b of [...ALL, LEASES]) await refusedPublish(nc, `$JS.API.STREAM.DELETE.KV_${b}`, user);
      for (const b of others) await refusedPublish(nc, `$JS.API.STREAM.PURGE.KV_${b}`, user);
    });
  }

  test("the examples the issue names: xds-server cannot put wm-objects or wm-xds; translator cannot put wm-objects; watcher cannot put wm-xds", async () => {
    const put = (user: string, b: string) =>
      refusedPublish(conns.get(user)!, `$KV.${b}.core.Service.default.x`, user);
    await put("xds-server", Bucket.objects);
    await put("xds-server", Bucket.xds);
    await put("translator", Bucket.objects);
    await put("watcher", Bucket.xds);
    // A bucket a user may only read: its KV client's put is refused too.
    const xdsAsServer = await openBucket(conns.get("xds-server")!, Bucket.xds, log);
    await assert.rejects(
      xdsAsServer.put("manifest.x.y", "{}", { timeout: 2000 } as never),
      /[Pp]ermission|violation/,
    );
    // A bucket a user may not even read cannot be opened.
    await assert.rejects(
      conns.get("xds-server")!.request(`$JS.API.STREAM.INFO.KV_${Bucket.objects}`, "", { timeout: 2000 }),
      /[Pp]ermission|violation/,
    );
  });
});

describe("NATS with TLS: WAYMARK_NATS_TLS_CA and a client certificate", { timeout: 60_000 }, () => {
  const dir = tempDir("e2e-nats-tls");
  let nats: Proc;
  let url: string;
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

  before(async () => {
    writeFileSync(
      join(dir, "server.ext"),
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for (const ca of ["ca", "other-ca"])
      openssl(
        "req",
        "-x509",
        ...ec,
        "-days",
        "2",
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
        "-subj",
        `/CN=${ca}`,
      );
    for (const [name, ext] of [
      ["server", "server.ext"],
      ["client", "client.ext"],
    ] as const) {
      openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=waymark-${name}`);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial");
      openssl(
        ...["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAserial", "ca.srl"],
        ...["-days", "2", "-out", `${name}.crt`, "-extfile", ext],
      );
    }
    const port = await freePort();
    nats = startNatsServer(
      "nats-tls",
      [
        `host: 127.0.0.1`,
        `port: ${port}`,
        `jetstream { store_dir: ${JSON.stringify(join(dir, "jetstream"))} }`,
        `tls { cert_file: "${join(dir, "server.crt")}", key_file: "${join(dir, "server.key")}", ca_file: "${join(dir, "ca.crt")}", verify: true, timeout: 2 }`,
      ].join("\n"),
      dir,
    );
    url = `nats://127.0.0.1:${port}`;
    const tls = {
      caFile: join(dir, "ca.crt"),
      certFile: join(dir, "client.crt"),
      keyFile: join(dir, "client.key"),
    };
    await waitFor("nats-server with TLS", async () => {
      const nc = await connect({ servers: url, tls, reconnect: false });
      await nc.close();
      return true;
    });
  });

  after(async () => {
    await nats?.stop();
  });

  const env = (o: { ca?: string; cert?: boolean }) => ({
    ...(o.ca ? { WAYMARK_NATS_TLS_CA: join(dir, o.ca) } : {}),
    ...(o.cert
      ? { WAYMARK_NATS_TLS_CERT: join(dir, "client.crt"), WAYMARK_NATS_TLS_KEY: join(dir, "client.key") }
      : {}),
  });

  test("natsTlsFromEnv: off when unset; the CA alone, or with a client certificate; bad combinations refused", () => {
    assert.equal(natsTlsFromEnv({}), undefined);
    assert.deepEqual(natsTlsFromEnv({ WAYMARK_NATS_TLS_CA: "/ca.crt" }), { caFile: "/ca.crt" });
    assert.deepEqual(natsTlsFromEnv(env({ ca: "ca.crt", cert: true })), {
      caFile: join(dir, "ca.crt"),
      certFile: join(dir, "client.crt"),
      keyFile: join(dir, "client.key"),
    });
    assert.throws(
      () => natsTlsFromEnv({ WAYMARK_NATS_TLS_CA: "/ca", WAYMARK_NATS_TLS_CERT: "/c" }),
      /go together/,
    );
    assert.throws(() => natsTlsFromEnv({ WAYMARK_NATS_TLS_CERT: "/c", WAYMARK_NATS_TLS_KEY: "/k" }), /needs/);
  });

  test("a service connects over TLS with the CA and its client certificate, and uses its buckets", async () => {
    const nc = await connectBus({
      servers: url,
      name: "tls-client",
      log,
      tls: natsTlsFromEnv(env({ ca: "ca.crt", cert: true }))!,
    });
    try {
      const kv = await openBucket(nc, Bucket.proxies, log);
      await putJson(kv, "probe", { tls: true });
      assert.deepEqual(await getJson(kv, "probe"), { tls: true });
      assert.equal(nc.info?.tls_required ?? nc.info?.tls_verify, true);
    } finally {
      await nc.close();
    }
  });

  test("refused: no TLS, no client certificate, a CA that did not sign the server's", async () => {
    await assert.rejects(connect({ servers: url, reconnect: false, timeout: 3000 }), Error, "plain");
    await assert.rejects(
      connect({ servers: url, reconnect: false, timeout: 3000, tls: { caFile: join(dir, "ca.crt") } }),
      Error,
      "no client certificate",
    );
    await assert.rejects(
      connect({
        servers: url,
        reconnect: false,
        timeout: 3000,
        tls: natsTlsFromEnv(env({ ca: "other-ca.crt", cert: true }))!,
      }),
      Error,
      "another CA",
    );
  });

  test("the xds-server process connects with WAYMARK_NATS_TLS_* and serves", async () => {
    const xds = startProcess({
      name: "xds-server",
      command: process.execPath,
      args: [join(REPO_ROOT, "services", "xds-server", "src", "main.ts")],
      env: {
        WAYMARK_NATS_URL: url,
        WAYMARK_XDS_ADDRESS: `127.0.0.1:${await freePort()}`,
        WAYMARK_REPLICA: "tls-0",
        ...env({ ca: "ca.crt", cert: true }),
      },
      logDir: dir,
    });
    try {
      await waitFor(
        "the xds-server listens",
        async () => {
          if (xds.child.exitCode !== null) throw new Error(`xds-server exited:\n${xds.log().slice(-2000)}`);
          return /"msg":"ads listening"/.test(xds.log());
        },
        20_000,
        100,
      );
    } finally {
      await xds.stop();
    }
  });
});
