// TrafficPolicy headerModifiers: set, add and remove request and response headers (the Gateway API
// HTTPHeaderFilter shape, whose values may also come from a Secret of the policy's namespace). As in
// kgateway, Envoy's header_mutation filter does it: the filter sits, disabled, in the connection
// manager and a route entry (or a virtual host, for a Gateway-level policy) enables it with its
// HeaderMutationPerRoute. A route-level policy replaces a Gateway-level one instead of adding to it
// (the feature-level override of every TrafficPolicy field): see httpFilters below.
import type {
  FilterConfigJson,
  HeaderMutationJson,
  HeaderMutationPerRouteJson,
  HeaderValueOptionJson,
} from "@waymark/envoy-proto";
import { isRecord } from "../../input/guards.ts";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import { escapeHeaderValue } from "../../routes/filters.ts";
import { type FeatureContext, FieldErrors, type PolicyFeature } from "../feature.ts";
import { HEADER_NAME, object, unknownKeys } from "../read.ts";
import { secretEntries } from "../secrets.ts";

export const HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation";
/** The filter of Gateway-level policies (see httpFilters). */
export const GATEWAY_HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation.gateway";

type Mutation = NonNullable<NonNullable<HeaderMutationPerRouteJson["mutations"]>["requestMutations"]>[number];

export interface HeaderModifiersValue {
  request: Mutation[];
  response: Mutation[];
  /** The filterStage, when it asks for a place other than the one Waymark uses (accepted, ignored). */
  otherStage: boolean;
}

const MAX_ITEMS = 16;
const MAX_VALUE = 4096;
/** Gateway API: printable US-ASCII, single spaces or tabs between words, no leading or trailing space. */
const HEADER_VALUE = /^[!-~]+([\t ]?[!-~]+)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
/** Headers that routing and framing depend on: Envoy refuses to mutate them, or they break requests. */
const PROTECTED = new Set(["host", ":authority", "content-length", "transfer-encoding", "connection"]);

/** The (name, value) pairs one set/add entry gives: inline, one Secret key, or every key of a Secret. */
function entryPairs(
  h: Record<string, unknown>,
  path: string,
  ctx: FeatureContext,
  errors: FieldErrors,
): Array<{ name: string; value: string; path: string }> {
  unknownKeys(h, ["name", "value", "secretRef"], path, errors);
  const name = h.name;
  if (name !== undefined && (typeof name !== "string" || !HEADER_NAME.test(name))) {
    errors.at(`${path}.name`, `${JSON.stringify(name)} is not a valid header name (an RFC 7230 token)`);
    return [];
  }
  if ((h.value === undefined) === (h.secretRef === undefined)) {
    errors.at(path, "set exactly one of value and secretRef");
    return [];
  }
  if (h.value !== undefined) {
    if (name === undefined) {
      errors.at(`${path}.name`, "is required with an inline value");
      return [];
    }
    return [{ name, value: h.value as string, path: `${path}.value` }];
  }
  const ref = object(h.secretRef, `${path}.secretRef`, errors);
  if (!ref) return [];
  unknownKeys(ref, ["name", "key", "namespace"], `${path}.secretRef`, errors);
  if (typeof ref.name !== "string" || ref.name === "") {
    errors.at(`${path}.secretRef.name`, "is required");
    return [];
  }
  if (ref.namespace !== undefined && ref.namespace !== ctx.namespace) {
    errors.at(
      `${path}.secretRef.namespace`,
      `a Secret of another namespace cannot be used; put it in ${ctx.namespace} or leave namespace out`,
    );
    return [];
  }
  const key = ref.key;
  if (key !== undefined && (typeof key !== "string" || !SECRET_KEY.test(key))) {
    errors.at(`${path}.secretRef.key`, "must be a Secret data key (letters, digits, '-', '.', '_')");
    return [];
  }
  const secret = ctx.secret(ref.name);
  if (!secret) {
    errors.at(`${path}.secretRef`, `Secret ${ctx.namespace}/${ref.name} not found`);
    return [];
  }
  const values: Record<string, string> = Object.fromEntries(secretEntries(secret));
  const one = (headerName: string, dataKey: string) => {
    const value = values[dataKey];
    if (value === undefined) {
      errors.at(`${path}.secretRef`, `Secret ${ctx.namespace}/${ref.name} has no key ${dataKey}`);
      return [];
    }
    return [{ name: headerName, value, path: `${path}.secretRef` }];
  };
  if (typeof key === "string") return one(name ?? key, key);
  if (name !== undefined) return one(name, name);
  const all = Object.keys(values).sort();
  const bad = all.filter((k) => !HEADER_NAME.test(k));
  if (bad.length) {
    errors.at(`${path}.secretRef`, `Secret ${ctx.namespace}/${ref.name} has keys that are not header names`);
    return [];
  }
  return all.map((k) => ({ name: k, value: values[k]!, path: `${path}.secretRef` }));
}

function readFilter(v: unknown, path: string, ctx: FeatureContext, errors: FieldErrors): Mutation[] {
  const f = object(v, path, errors);
  if (!f) return [];
  unknownKeys(f, ["set", "add", "remove"], path, errors);
  if (f.set === undefined && f.add === undefined && f.remove === undefined) {
    errors.at(path, "set at least one of set, add and remove");
    return [];
  }
  const out: Mutation[] = [];
  /** Lower-cased header name → the path that acts on it (one action per header name). */
  const seen = new Map<string, string>();
  const claim = (name: string, at: string): boolean => {
    const lower = name.toLowerCase();
    if (PROTECTED.has(lower)) {
      errors.at(at, `the ${lower} header cannot be modified`, name);
      return false;
    }
    const first = seen.get(lower);
    if (first !== undefined) {
      errors.at(at, `header ${name} already has an action at ${first}; give one action per header name`);
      return false;
    }
    seen.set(lower, at);
    return true;
  };
  for (const [op, action] of [
    ["set", "OVERWRITE_IF_EXISTS_OR_ADD"],
    ["add", "APPEND_IF_EXISTS_OR_ADD"],
  ] as const) {
    const list = f[op];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      errors.at(`${path}.${op}`, "must be a list of {name, value} or {name, secretRef}");
      continue;
    }
    if (list.length > MAX_ITEMS) errors.at(`${path}.${op}`, `at most ${MAX_ITEMS} entries`);
    list.forEach((h, i) => {
      const at = `${path}.${op}[${i}]`;
      if (!isRecord(h)) {
        errors.at(at, "must be {name, value} or {name, secretRef}");
        return;
      }
      for (const p of entryPairs(h, at, ctx, errors)) {
        if (typeof p.value !== "string" || p.value.length > MAX_VALUE || !HEADER_VALUE.test(p.value)) {
          // A Secret's value is never written into status.
          errors.at(
            p.path,
            `the value is not a valid header value (1 to ${MAX_VALUE} printable ASCII characters, single spaces or tabs between words)`,
            p.name,
          );
          continue;
        }
        if (!claim(p.name, at)) continue;
        const append: HeaderValueOptionJson = {
          header: { key: p.name.toLowerCase(), value: escapeHeaderValue(p.value) },
          appendAction: action,
        };
        out.push({ append });
      }
    });
  }
  if (f.remove !== undefined) {
    if (!Array.isArray(f.remove)) errors.at(`${path}.remove`, "must be a list of header names");
    else {
      if (f.remove.length > MAX_ITEMS) errors.at(`${path}.remove`, `at most ${MAX_ITEMS} entries`);
      f.remove.forEach((name, i) => {
        const at = `${path}.remove[${i}]`;
        if (typeof name !== "string" || !HEADER_NAME.test(name)) {
          errors.at(at, `${JSON.stringify(name)} is not a valid header name (an RFC 7230 token)`);
          return;
        }
        if (claim(name, at)) out.push({ remove: name.toLowerCase() });
      });
    }
  }
  return out;
}

const STAGES = ["Fault", "AuthN", "AuthZ", "RateLimit", "Route"];
const PREDICATES = ["Before", "During", "After"];

export function readHeaderModifiers(
  value: unknown,
  ctx: FeatureContext,
): { ok: true; value: HeaderModifiersValue } | { ok: false; errors: FieldErrors["list"] } {
  const errors = new FieldErrors();
  const path = "headerModifiers";
  const v = object(value, path, errors);
  let request: Mutation[] = [];
  let response: Mutation[] = [];
  let otherStage = false;
  if (v) {
    unknownKeys(v, ["request", "response", "filterStage"], path, errors);
    if (v.request === undefined && v.response === undefined)
      errors.at(path, "set at least one of request and response");
    if (v.request !== undefined) request = readFilter(v.request, `${path}.request`, ctx, errors);
    if (v.response !== undefined) response = readFilter(v.response, `${path}.response`, ctx, errors);
    if (v.filterStage !== undefined) {
      const s = object(v.filterStage, `${path}.filterStage`, errors);
      if (s) {
        unknownKeys(s, ["stage", "predicate", "weight"], `${path}.filterStage`, errors);
        if (typeof s.stage !== "string" || !STAGES.includes(s.stage))
          errors.at(`${path}.filterStage.stage`, `must be one of ${STAGES.join(", ")}`);
        if (
          s.predicate !== undefined &&
          (typeof s.predicate !== "string" || !PREDICATES.includes(s.predicate))
        )
          errors.at(`${path}.filterStage.predicate`, `must be one of ${PREDICATES.join(", ")}`);
        if (s.weight !== undefined && (typeof s.weight !== "number" || !Number.isInteger(s.weight)))
          errors.at(`${path}.filterStage.weight`, "must be a whole number");
        // Waymark's header_mutation filter sits at the Route stage (kgateway's default).
        otherStage = s.stage !== "Route" || (s.predicate ?? "During") !== "During";
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { request, response, otherStage } };
}

const hcmConfig: HeaderMutationJson = {};
const hcmFilter = (name: string) => ({
  slot: "headerModifiers" as const,
  filter: {
    name,
    disabled: true,
    typedConfig: pack("envoy.extensions.filters.http.header_mutation.v3.HeaderMutation", hcmConfig),
  },
});

function config({ request, response }: HeaderModifiersValue) {
  const mutations: NonNullable<HeaderMutationPerRouteJson["mutations"]> = {};
  if (request.length) mutations.requestMutations = request;
  if (response.length) mutations.responseMutations = response;
  const perRoute: HeaderMutationPerRouteJson = Object.keys(mutations).length ? { mutations } : {};
  return pack("envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute", perRoute);
}

/** A route entry's: its own mutations, and the Gateway-level filter off (the route-level policy replaces it). */
const gatewayOff = pack("envoy.config.route.v3.FilterConfig", {
  disabled: true,
  isOptional: true,
} satisfies FilterConfigJson);

export const headerModifiersFeature: PolicyFeature<HeaderModifiersValue> = {
  field: "headerModifiers",
  read: readHeaderModifiers,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  // header_mutation applies the per-route config of every level (route entry, virtual host), so a
  // Gateway-level policy gets a filter of its own, which a route-level policy switches off.
  httpFilters: [hcmFilter(GATEWAY_HEADER_MUTATION_FILTER), hcmFilter(HEADER_MUTATION_FILTER)],
  perRoute: (v): PerFilterConfig => ({
    [HEADER_MUTATION_FILTER]: config(v),
    [GATEWAY_HEADER_MUTATION_FILTER]: gatewayOff,
  }),
  perVirtualHost: (v): PerFilterConfig => ({ [GATEWAY_HEADER_MUTATION_FILTER]: config(v) }),
  ignored: (v) => (v.otherStage ? ["headerModifiers.filterStage"] : []),
};
