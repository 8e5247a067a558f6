// How to reach the Kubernetes API: from a kubeconfig file (its current context, or a named one) or
// from inside a pod (the service-account token, CA and KUBERNETES_SERVICE_* variables). Only the
// forms Waymark needs: a bearer token (inline or file) or a client certificate, and a CA.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { SourceError } from "../errors.ts";

export interface KubeConnection {
  /** `https://host:port` (no trailing slash). */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** Read again when it changes (projected tokens rotate). */
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
  /** Where the settings came from, for logs. */
  description: string;
}

export const IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const named = (list: unknown, name: string, what: string): Rec => {
  const found = Array.isArray(list) ? list.find((e) => isRec(e) && e["name"] === name) : undefined;
  if (!isRec(found) || !isRec(found[what]))
    throw new SourceError(`kubeconfig has no ${what} named "${name}"`);
  return found[what] as Rec;
};

/** The connection described by a kubeconfig file (its current-context unless `context` is given). */
export function fromKubeconfig(path: string, context?: string): KubeConnection {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SourceError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!isRec(doc)) throw new SourceError(`kubeconfig ${path} is not a mapping`);
  const ctxName = context ?? (typeof doc["current-context"] === "string" ? doc["current-context"] : "");
  if (!ctxName) throw new SourceError(`kubeconfig ${path} has no current-context`);
  const ctx = named(doc["contexts"], ctxName, "context");
  const cluster = named(doc["clusters"], String(ctx["cluster"] ?? ""), "cluster");
  const user = ctx["user"] ? named(doc["users"], String(ctx["user"]), "user") : {};
  const base = dirname(path);
  const file = (p: unknown) => readFileSync(isAbsolute(String(p)) ? String(p) : join(base, String(p)));
  const data = (inline: unknown, filePath: unknown): Buffer | undefined =>
    typeof inline === "string"
      ? Buffer.from(inline, "base64")
      : typeof filePath === "string"
        ? file(filePath)
        : undefined;
  const server = String(cluster["server"] ?? "").replace(/\/+$/, "");
  if (!/^https?:\/\//.test(server))
    throw new SourceError(`kubeconfig ${path}: cluster server "${server}" is not a URL`);
  const c: KubeConnection = { server, description: `kubeconfig ${path} (context ${ctxName})` };
  const ca = data(cluster["certificate-authority-data"], cluster["certificate-authority"]);
  if (ca) c.ca = ca;
  if (cluster["insecure-skip-tls-verify"] === true) c.insecureSkipTlsVerify = true;
  const cert = data(user["client-certificate-data"], user["client-certificate"]);
  const key = data(user["client-key-data"], user["client-key"]);
  if (cert && key) {
    c.cert = cert;
    c.key = key;
  }
  if (typeof user["token"] === "string") c.token = user["token"];
  else if (typeof user["tokenFile"] === "string")
    c.tokenFile = isAbsolute(user["tokenFile"]) ? user["tokenFile"] : join(base, user["tokenFile"]);
  return c;
}

/** The connection of a pod: its service account's token and the cluster CA. */
export function inCluster(
  env: Record<string, string | undefined> = process.env,
  dir = IN_CLUSTER_DIR,
): KubeConnection {
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"] ?? "443";
  if (!host) throw new SourceError("not in a cluster: KUBERNETES_SERVICE_HOST is not set");
  let ca: Buffer;
  try {
    ca = readFileSync(join(dir, "ca.crt"));
  } catch (err) {
    throw new SourceError(`cannot read ${join(dir, "ca.crt")}: ${(err as Error).message}`, { cause: err });
  }
  const h = host.includes(":") ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca, tokenFile: join(dir, "token"), description: "in-cluster" };
}
