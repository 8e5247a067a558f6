// HTTPRoute rule filters → Envoy route header operations. RequestHeaderModifier and
// ResponseHeaderModifier are supported; any other filter type is reported as unsupported (the rule
// then answers 500 rather than run without the filter the user asked for).
import type { JsonObject } from "@waymark/envoy-proto";
import { isRecord, records, str } from "./guards.ts";

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

export interface CompiledFilters {
  /** Route fields: request/responseHeadersToAdd, request/responseHeadersToRemove. */
  headerOps: JsonObject;
  /** One message per filter that cannot be applied; empty when all are fine. */
  problems: string[];
}

/** Envoy treats header values as format strings: a literal "%" must be written "%%". */
export function escapeHeaderValue(value: string): string {
  return value.replaceAll("%", "%%");
}

function headerModifier(
  modifier: unknown,
  what: string,
  adds: JsonObject[],
  removes: string[],
  problems: string[],
): void {
  if (!isRecord(modifier)) {
    problems.push(`${what} filter has no ${what.charAt(0).toLowerCase()}${what.slice(1)} configuration`);
    return;
  }
  const header = (h: Record<string, unknown>, action: string) => {
    const name = str(h.name) ?? "";
    if (!HEADER_NAME.test(name)) {
      problems.push(`${what}: ${JSON.stringify(name)} is not a valid header name`);
      return;
    }
    if (name.toLowerCase() === "host") {
      problems.push(`${what}: the Host header cannot be modified`);
      return;
    }
    adds.push({ header: { key: name, value: escapeHeaderValue(str(h.value) ?? "") }, appendAction: action });
  };
  for (const h of records(modifier.set)) header(h, "OVERWRITE_IF_EXISTS_OR_ADD");
  for (const h of records(modifier.add)) header(h, "APPEND_IF_EXISTS_OR_ADD");
  for (const r of Array.isArray(modifier.remove) ? modifier.remove : []) {
    const name = str(r) ?? "";
    if (!HEADER_NAME.test(name)) problems.push(`${what}: ${JSON.stringify(name)} is not a valid header name`);
    else if (name.toLowerCase() === "host") problems.push(`${what}: the Host header cannot be removed`);
    else if (!removes.includes(name)) removes.push(name);
  }
}

export function compileFilters(filters: unknown): CompiledFilters {
  const requestAdd: JsonObject[] = [];
  const requestRemove: string[] = [];
  const responseAdd: JsonObject[] = [];
  const responseRemove: string[] = [];
  const problems: string[] = [];
  for (const f of Array.isArray(filters) ? filters : []) {
    const type = isRecord(f) ? str(f.type) : undefined;
    if (!isRecord(f) || type === undefined) {
      problems.push("a filter has no type");
    } else if (type === "RequestHeaderModifier") {
      headerModifier(f.requestHeaderModifier, "RequestHeaderModifier", requestAdd, requestRemove, problems);
    } else if (type === "ResponseHeaderModifier") {
      headerModifier(
        f.responseHeaderModifier,
        "ResponseHeaderModifier",
        responseAdd,
        responseRemove,
        problems,
      );
    } else {
      problems.push(`filter type ${type} is not supported yet`);
    }
  }
  const headerOps: JsonObject = {};
  if (requestAdd.length) headerOps.requestHeadersToAdd = requestAdd;
  if (requestRemove.length) headerOps.requestHeadersToRemove = requestRemove;
  if (responseAdd.length) headerOps.responseHeadersToAdd = responseAdd;
  if (responseRemove.length) headerOps.responseHeadersToRemove = responseRemove;
  return { headerOps, problems };
}
