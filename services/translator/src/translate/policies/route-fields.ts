// Helpers shared by the features that edit route entries (timeouts, retry, urlRewrite,
// autoHostRewrite, internalRedirect, statPrefix): kgateway's duration syntax, and its rule that
// some fields may only be set by a policy that targets routes.
import { isRecord } from "../input/guards.ts";
import { gatewayDurationMs } from "../routes/resilience.ts";
import type { FeatureContext, FieldErrors } from "./feature.ts";

const DURATION_HINT = 'use 1 to 4 groups of up to 5 digits and a unit (h, m, s, ms), e.g. "1s" or "1m30s"';

/**
 * A duration field of kgateway's API (the Gateway API syntax: "500ms", "1m30s"), in milliseconds;
 * undefined (and an error) when absent-but-invalid. `minMs` is the smallest value allowed.
 */
export function readDurationMs(v: unknown, path: string, errors: FieldErrors, minMs = 0): number | undefined {
  if (typeof v !== "string") {
    errors.at(path, `must be a duration string (${DURATION_HINT})`);
    return undefined;
  }
  const ms = gatewayDurationMs(v);
  if (ms === undefined) {
    errors.at(path, `${JSON.stringify(v)} is not a valid duration: ${DURATION_HINT}`);
    return undefined;
  }
  if (ms < minMs) {
    errors.at(path, `${JSON.stringify(v)} is too short: it must be at least ${minMs}ms`);
    return undefined;
  }
  return ms;
}

/** The object at spec[field], or an error saying it must be one. */
export function readObject(
  v: unknown,
  path: string,
  errors: FieldErrors,
): Record<string, unknown> | undefined {
  if (isRecord(v)) return v;
  errors.at(path, "must be an object");
  return undefined;
}

/** Reports, at `path`, every key of `o` that is not one of `known`. */
export function unknownKeys(
  o: Record<string, unknown>,
  known: readonly string[],
  path: string,
  errors: FieldErrors,
): void {
  for (const k of Object.keys(o).sort())
    if (!known.includes(k)) errors.at(`${path}.${k}`, `unknown field (known: ${known.join(", ")})`);
}

/**
 * kgateway admits some fields only in policies whose every target is of the given kinds (its CRD
 * rejects the whole policy otherwise); the same policy is Invalid here.
 */
export function onlyForKinds(
  ctx: Pick<FeatureContext, "targetKinds">,
  kinds: readonly string[],
  field: string,
  errors: FieldErrors,
): void {
  const other = [...ctx.targetKinds].filter((k) => !kinds.includes(k)).sort();
  if (other.length)
    errors.at(
      field,
      `can only be used when every target is ${kinds.join(" or ")} (this policy also targets ${other.join(", ")}); move it to a policy that targets the routes`,
    );
}
