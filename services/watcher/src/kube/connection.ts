// How to reach the Kubernetes API: a kubeconfig file (its current context, or a named one) or the
// pod's own service account (in-cluster). Loading and authentication are @kubernetes/client-node's
// KubeConfig, so every form kubectl accepts works: bearer tokens (inline or tokenFile), client
// certificates, exec credential plugins (EKS, GKE, AKS …), OIDC, basic auth and impersonation, and the
// rotating in-cluster token. Here we only check that the chosen context is complete, so a bad
// kubeconfig fails at start with a clear message instead of on the first request.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { KubeConfig, type User } from "@kubernetes/client-node";
import { parse } from "yaml";
import { SourceError } from "../errors.ts";

export interface KubeConnection {
  /** The loaded kubeconfig with its current context set: it authenticates each request. */
  config: KubeConfig;
  /** `https://host:port` (no trailing slash): the current cluster's server, unless overridden. */
  server: string;
  /** Where the settings came from, for logs. */
  description: string;
}

function checked(kc: KubeConfig, where: string, description: string): KubeConnection {
  const ctxName = kc.getCurrentContext();
  if (!ctxName) throw new SourceError(`${where} has no current-context`);
  const ctx = kc.getContextObject(ctxName);
  if (!ctx) throw new SourceError(`${where} has no context named "${ctxName}"`);
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster) throw new SourceError(`${where} has no cluster named "${ctx.cluster}"`);
  if (ctx.user && !kc.getUser(ctx.user)) throw new SourceError(`${where} has no user named "${ctx.user}"`);
  const server = String(cluster.server ?? "").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(server))
    throw new SourceError(`${where}: cluster server "${server}" is not a URL`);
  return { config: kc, server, description };
}

/** The `tokenFile` of each user of a kubeconfig (the only field the library does not read). */
function tokenFilesOf(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const doc = parse(readFileSync(path, "utf8")) as { users?: unknown } | null;
  for (const u of Array.isArray(doc?.users) ? doc.users : []) {
    const f = (u as { user?: { tokenFile?: unknown } } | null)?.user?.tokenFile;
    const name = (u as { name?: unknown } | null)?.name;
    if (typeof f === "string" && typeof name === "string") out.set(name, f);
  }
  return out;
}

/** The connection described by a kubeconfig file (its current-context unless `context` is given). */
export function fromKubeconfig(path: string, context?: string): KubeConnection {
  const kc = new KubeConfig();
  let tokenFiles: Map<string, string>;
  try {
    kc.loadFromFile(path);
    tokenFiles = tokenFilesOf(path);
  } catch (err) {
    throw new SourceError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (context) kc.setCurrentContext(context);
  const base = dirname(path);
  const users = kc.getUsers().map((user): User => {
    // kubectl runs an exec plugin named by a relative path (one with a slash) from the kubeconfig's
    // folder; the library would run it from the working directory.
    const cmd = user.exec?.command;
    if (user.exec && typeof cmd === "string" && cmd.includes("/") && !isAbsolute(cmd))
      user = { ...user, exec: { ...user.exec, command: join(base, cmd) } };
    // The library ignores a user's `tokenFile` (it reads a `token-file`, once): hand it to the
    // library's file authenticator, which reads the file again every minute, as client-go does.
    const file = tokenFiles.get(user.name);
    if (file && !user.token && !user.authProvider && !user.exec)
      user = { ...user, authProvider: { name: "tokenFile", config: { tokenFile: resolve(base, file) } } };
    return user;
  });
  kc.loadFromOptions({
    clusters: kc.getClusters(),
    users,
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return checked(kc, `kubeconfig ${path}`, `kubeconfig ${path} (context ${kc.getCurrentContext()})`);
}

/**
 * The connection of a pod: its service account's token (read again as it rotates) and the cluster
 * CA, under `root` (tests give a folder; the library reads KUBERNETES_SERVICE_* from process.env).
 */
export function inCluster(root = ""): KubeConnection {
  const env = process.env;
  if (!env["KUBERNETES_SERVICE_HOST"])
    throw new SourceError("not in a cluster: KUBERNETES_SERVICE_HOST is not set");
  const kc = new KubeConfig();
  kc.loadFromCluster(root);
  const cluster = kc.getCurrentCluster();
  if (cluster && !env["KUBERNETES_SERVICE_PORT"]) {
    // The library would write "host:undefined"; the API server's port defaults to 443.
    const server = cluster.server.replace(/:undefined$/, ":443");
    kc.loadFromOptions({
      clusters: [{ ...cluster, server }],
      users: kc.getUsers(),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
  }
  // The library reads the CA on each request; a pod without one should fail at start.
  const ca = kc.getCurrentCluster()?.caFile;
  try {
    if (ca) readFileSync(ca);
  } catch (err) {
    throw new SourceError(`cannot read ${ca}: ${(err as Error).message}`, { cause: err });
  }
  return checked(kc, "in-cluster configuration", "in-cluster");
}
