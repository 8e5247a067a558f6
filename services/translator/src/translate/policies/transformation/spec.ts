// Reads spec.transformation of a TrafficPolicy (kgateway's shape) and compiles its templates with
// @waymark/inja. Every problem names the field and, for templates, the line and column.
import {
  type CompiledTemplate,
  emptyUses,
  mergeUses,
  type ParseAs,
  type Phase,
  type TemplateLimits,
  type TemplateUses,
  tryCompileTemplate,
} from "@waymark/inja";
import { arr, isRecord, str } from "../../input/guards.ts";
import { TEMPLATE_LIMIT_ENV } from "../../limits.ts";
import { type FieldError, FieldErrors } from "../feature.ts";

/** Namespace of dynamicMetadata entries that do not name one (envoy-gloo's transformation filter). */
export const DEFAULT_METADATA_NAMESPACE = "io.solo.transformation";

const MAX_HEADERS = 16;
const HEADER_NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const PSEUDO: Record<Phase, readonly string[]> = {
  request: [":path", ":method", ":authority", ":scheme"],
  response: [":status"],
};
/** Framing and routing headers a template must not change. */
const RESERVED = new Set(["content-length", "transfer-encoding", "host", "connection", "upgrade", "te"]);

export interface HeaderTemplate {
  /** Lower-cased. */
  name: string;
  template: CompiledTemplate;
}

export interface MetadataTemplate {
  namespace: string;
  key: string;
  template: CompiledTemplate;
}

export interface SideTransformation {
  phase: Phase;
  parseAs: ParseAs;
  /** Whether parseAs was given (AsJson parses, and answers 400 on invalid JSON). */
  body: CompiledTemplate | undefined;
  set: HeaderTemplate[];
  add: HeaderTemplate[];
  /** Lower-cased. */
  remove: string[];
  metadata: MetadataTemplate[];
  uses: TemplateUses;
}

export interface Transformation {
  request: SideTransformation | undefined;
  response: SideTransformation | undefined;
}

export type ReadResult = { ok: true; value: Transformation } | { ok: false; errors: FieldError[] };

/** Where an error is: a JSON path, and what it holds when that helps (a header name, a key). */
interface Where {
  path: string;
  subject?: string;
}

function validName(
  name: string,
  phase: Phase,
  what: Where,
  errors: FieldErrors,
  allowPseudo: boolean,
): boolean {
  if (name.startsWith(":")) {
    if (allowPseudo && PSEUDO[phase].includes(name)) return true;
    errors.at(
      what.path,
      `${JSON.stringify(name)} cannot be ${allowPseudo ? "set" : "removed"}${allowPseudo ? ` (pseudo-headers allowed in ${phase}s: ${PSEUDO[phase].join(", ")})` : ""}`,
      what.subject,
    );
    return false;
  }
  if (!HEADER_NAME.test(name)) {
    errors.at(what.path, `${JSON.stringify(name)} is not a valid header name`, what.subject);
    return false;
  }
  if (RESERVED.has(name)) {
    errors.at(what.path, `the ${name} header cannot be changed by a transformation`, what.subject);
    return false;
  }
  return true;
}

function readSide(
  value: unknown,
  phase: Phase,
  path: string,
  errors: FieldErrors,
  limits: Partial<TemplateLimits> | undefined,
): SideTransformation | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    errors.at(path, "must be an object");
    return undefined;
  }
  for (const k of Object.keys(value)) {
    if (!["set", "add", "remove", "body", "dynamicMetadata"].includes(k))
      errors.at(`${path}.${k}`, "unknown field");
  }
  const bodySpec = value.body;
  let parseAs: ParseAs = "AsString";
  let bodySource: string | undefined;
  if (bodySpec !== undefined) {
    if (!isRecord(bodySpec)) errors.at(`${path}.body`, "must be an object");
    else {
      const p = bodySpec.parseAs ?? "AsString";
      if (p === "AsString" || p === "AsJson" || p === "None") parseAs = p;
      else errors.at(`${path}.body.parseAs`, `must be AsString, AsJson or None, not ${JSON.stringify(p)}`);
      if (bodySpec.value !== undefined) {
        bodySource = str(bodySpec.value);
        if (bodySource === undefined) errors.at(`${path}.body.value`, "must be a string");
      }
    }
  }
  const uses = emptyUses();
  const compile = (source: string, where: Where): CompiledTemplate | undefined => {
    const r = tryCompileTemplate(source, limits ? { phase, parseAs, limits } : { phase, parseAs });
    if (!r.ok) {
      // A size or nesting cap that is a setting: say which one.
      const limit = r.error.limit;
      const setting = limit ? ` (limit set by the translator's ${TEMPLATE_LIMIT_ENV[limit]})` : "";
      errors.at(where.path, `${r.error.message}${setting}`, where.subject);
      return undefined;
    }
    mergeUses(uses, r.template.uses);
    return r.template;
  };

  const headers = (field: "set" | "add"): HeaderTemplate[] => {
    const list = value[field];
    if (list !== undefined && !Array.isArray(list)) errors.at(`${path}.${field}`, "must be a list");
    const items = arr(list);
    if (items.length > MAX_HEADERS) errors.at(`${path}.${field}`, `at most ${MAX_HEADERS} entries`);
    const out: HeaderTemplate[] = [];
    const seen = new Set<string>();
    items.forEach((h, i) => {
      const where = `${path}.${field}[${i}]`;
      if (!isRecord(h) || typeof h.name !== "string") {
        errors.at(where, "needs a name");
        return;
      }
      const name = h.name.toLowerCase();
      const label: Where = { path: where, subject: h.name };
      if (!validName(name, phase, label, errors, true)) return;
      if (field === "set" && seen.has(name)) errors.at(label.path, "set twice", label.subject);
      seen.add(name);
      const v = h.value ?? "";
      if (typeof v !== "string") {
        errors.at(label.path, "value must be a string", label.subject);
        return;
      }
      const template = compile(v, label);
      if (template) out.push({ name, template });
    });
    return out;
  };

  const set = headers("set");
  const add = headers("add");
  const remove: string[] = [];
  if (value.remove !== undefined && !Array.isArray(value.remove))
    errors.at(`${path}.remove`, "must be a list");
  arr(value.remove).forEach((r, i) => {
    const name = typeof r === "string" ? r.toLowerCase() : undefined;
    if (name === undefined) errors.at(`${path}.remove[${i}]`, "must be a header name");
    else if (
      validName(name, phase, { path: `${path}.remove[${i}]` }, errors, false) &&
      !remove.includes(name)
    )
      remove.push(name);
  });

  const metadata: MetadataTemplate[] = [];
  arr(value.dynamicMetadata).forEach((m, i) => {
    const where = `${path}.dynamicMetadata[${i}]`;
    if (!isRecord(m) || typeof m.key !== "string" || m.key === "") {
      errors.at(where, "needs a key");
      return;
    }
    const ns = m.namespace === undefined ? DEFAULT_METADATA_NAMESPACE : str(m.namespace);
    if (!ns) {
      errors.at(`${where}.namespace`, "must be a non-empty string");
      return;
    }
    const v = isRecord(m.value) ? m.value : {};
    const source = str(v.stringValue);
    if (source === undefined) {
      errors.at(`${where}.value.stringValue`, "must be a string (other value kinds are not supported)");
      return;
    }
    const template = compile(source, { path: where, subject: m.key });
    if (template) metadata.push({ namespace: ns, key: m.key, template });
  });

  const body = bodySource === undefined ? undefined : compile(bodySource, { path: `${path}.body.value` });
  return { phase, parseAs, body, set, add, remove, metadata, uses };
}

/** Reads and compiles spec.transformation; all problems are reported, not only the first. */
export function readTransformation(value: unknown, limits?: Partial<TemplateLimits>): ReadResult {
  const errors = new FieldErrors();
  if (!isRecord(value))
    return { ok: false, errors: [{ path: "transformation", message: "must be an object" }] };
  for (const k of Object.keys(value)) {
    if (k !== "request" && k !== "response") errors.at(`transformation.${k}`, "unknown field");
  }
  const request = readSide(value.request, "request", "transformation.request", errors, limits);
  const response = readSide(value.response, "response", "transformation.response", errors, limits);
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { request, response } };
}
