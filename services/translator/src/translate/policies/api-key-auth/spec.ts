// Reading TrafficPolicy apiKeyAuth (kgateway's shape): where the key is looked for (keySources, each
// header > query > cookie; by default the header api-key), the keys themselves from one Secret
// (secretRef) or every Secret with some labels (secretSelector) of the policy's namespace — each entry
// is one client: the entry's name is the client id, its value the key — whether the key goes on
// upstream, and a header that names the client. `disable` turns the check off where it is in force.
import type { Secret } from "@waymark/api";
import type { ApiKeyAuthPerRouteJson } from "@waymark/envoy-proto";
import { isRecord, records, str, stringMap } from "../../input/guards.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { secretEntries } from "../secrets.ts";

export type ApiKeyAuth =
  | { kind: "disable" }
  | {
      kind: "require";
      config: ApiKeyAuthPerRouteJson;
      /** Which Secrets (namespace/name@resourceVersion) the keys came from, for equality. */
      sources: string[];
    };

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DEFAULT_HEADER = "api-key";

export function readApiKeyAuth(value: unknown, ctx: FeatureContext): FeatureRead<ApiKeyAuth> {
  const errors = new FieldErrors();
  if (!isRecord(value)) return { ok: false, errors: [{ path: "apiKeyAuth", message: "must be an object" }] };
  const set = ["secretRef", "secretSelector", "disable"].filter((k) => value[k] !== undefined);
  if (set.length !== 1) {
    errors.at("apiKeyAuth", "set exactly one of secretRef, secretSelector and disable");
    return { ok: false, errors: errors.list };
  }
  if (value.disable !== undefined) return { ok: true, value: { kind: "disable" } };

  const keySources = records(value.keySources).map((s, i) => {
    const src: { header?: string; query?: string; cookie?: string } = {};
    for (const k of ["header", "query", "cookie"] as const) {
      const v = str(s[k]);
      if (v === undefined) continue;
      if (k !== "query" && !HEADER_NAME.test(v))
        errors.at(`apiKeyAuth.keySources[${i}].${k}`, "not a valid name", v);
      else src[k] = v;
    }
    if (Object.keys(src).length === 0 && errors.length === 0)
      errors.at(`apiKeyAuth.keySources[${i}]`, "set at least one of header, query and cookie");
    return src;
  });
  const clientHeader = str(value.clientIdHeader);
  if (clientHeader !== undefined && !HEADER_NAME.test(clientHeader))
    errors.at("apiKeyAuth.clientIdHeader", "not a header name", clientHeader);

  let secrets: Secret[] = [];
  if (value.secretRef !== undefined) {
    const ref = isRecord(value.secretRef) ? value.secretRef : {};
    const name = str(ref.name) ?? "";
    const ns = str(ref.namespace);
    const kind = str(ref.kind) ?? "Secret";
    if (kind !== "Secret" || (str(ref.group) ?? "") !== "")
      errors.at("apiKeyAuth.secretRef", "must name a core Secret");
    else if (ns !== undefined && ns !== ctx.namespace)
      errors.at(
        "apiKeyAuth.secretRef.namespace",
        `a policy may only use Secrets of its own namespace (${ctx.namespace})`,
        ns,
      );
    else if (name === "") errors.at("apiKeyAuth.secretRef.name", "needs the Secret's name");
    else {
      const s = ctx.secret(name);
      if (!s)
        errors.at(
          "apiKeyAuth.secretRef",
          `Secret ${ctx.namespace}/${name} not found; create it or fix the name`,
        );
      else secrets = [s];
    }
  } else {
    const sel = isRecord(value.secretSelector) ? stringMap(value.secretSelector.matchLabels) : {};
    if (Object.keys(sel).length === 0)
      errors.at("apiKeyAuth.secretSelector.matchLabels", "needs at least one label");
    else {
      secrets = ctx.secretsSelected(sel);
      if (secrets.length === 0)
        errors.at("apiKeyAuth.secretSelector", `no Secret of namespace ${ctx.namespace} has these labels`);
    }
  }
  const credentials: Array<{ key: string; client: string }> = [];
  const seenKeys = new Set<string>();
  for (const s of secrets) {
    const entries = secretEntries(s);
    if (entries.size === 0)
      errors.at("apiKeyAuth", `Secret ${ctx.namespace}/${s.metadata.name} has no entries`);
    for (const [client, key] of entries) {
      // The value is never named: only the Secret and the entry.
      if (key === "")
        errors.at("apiKeyAuth", `Secret ${ctx.namespace}/${s.metadata.name} entry ${client} is empty`);
      else if (seenKeys.has(key))
        errors.at(
          "apiKeyAuth",
          `Secret ${ctx.namespace}/${s.metadata.name} entry ${client} repeats another client's key`,
        );
      else {
        seenKeys.add(key);
        credentials.push({ key, client });
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  const config: ApiKeyAuthPerRouteJson = {
    credentials,
    keySources: keySources.length ? keySources : [{ header: DEFAULT_HEADER }],
  };
  const hide = value.forwardCredential !== true;
  if (hide || clientHeader)
    config.forwarding = { ...(clientHeader ? { header: clientHeader } : {}), hideCredentials: hide };
  return {
    ok: true,
    value: {
      kind: "require",
      config,
      sources: secrets.map((s) => `${ctx.namespace}/${s.metadata.name}@${s.metadata.resourceVersion ?? ""}`),
    },
  };
}
