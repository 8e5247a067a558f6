// Small readers the TrafficPolicy features share: kgateway's `disable: {}`, percentages, durations,
// Kubernetes quantities, string matchers and header names. Each records its error at the path it is
// given and returns undefined, so a reader goes on and reports every problem of a spec at once.
import type { StringMatcherJson } from "@waymark/envoy-proto";
import { isRecord } from "../input/guards.ts";
import type { FieldErrors } from "./feature.ts";

/** An RFC 7230 token: what a header name may be (Gateway API HTTPHeaderName, any case). */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;

/** The keys of `value` that `allowed` does not list, each reported as unknown. */
export function unknownKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  errors: FieldErrors,
): void {
  for (const k of Object.keys(value))
    if (!allowed.includes(k)) errors.at(`${path}.${k}`, `unknown field (known: ${allowed.join(", ")})`);
}

/** The object at `path`, or undefined with an error. */
export function object(v: unknown, path: string, errors: FieldErrors): Record<string, unknown> | undefined {
  if (isRecord(v)) return v;
  errors.at(path, "must be an object");
  return undefined;
}

/** kgateway's PolicyDisable: present means "disable"; it must be an empty object. */
export function readDisable(v: unknown, path: string, errors: FieldErrors): boolean {
  if (v === undefined) return false;
  if (!isRecord(v) || Object.keys(v).length > 0) errors.at(path, "must be an empty object: disable: {}");
  return true;
}

/** A whole number in [min, max], or undefined (absent, or wrong with an error). */
export function readInt(
  v: unknown,
  path: string,
  errors: FieldErrors,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.at(path, `must be a whole number from ${min} to ${max}`);
    return undefined;
  }
  return v;
}

export function readBool(v: unknown, path: string, errors: FieldErrors): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") {
    errors.at(path, "must be true or false");
    return undefined;
  }
  return v;
}

/** A list of strings (undefined when absent); non-strings are errors. */
export function readStrings(
  v: unknown,
  path: string,
  errors: FieldErrors,
  maxItems: number,
): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) {
    errors.at(path, "must be a list");
    return undefined;
  }
  if (v.length > maxItems) errors.at(path, `at most ${maxItems} entries`);
  const out: string[] = [];
  v.forEach((x, i) => {
    if (typeof x === "string") out.push(x);
    else errors.at(`${path}[${i}]`, "must be a string");
  });
  return out;
}

const DURATION = /^(?:[0-9]{1,5}(?:h|ms|m|s)){1,4}$/;
const DURATION_PART = /([0-9]{1,5})(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * A duration as kgateway's CRDs accept it (`1s`, `500ms`, `1m30s`: up to four parts of at most five
 * digits, units h, m, s, ms), in milliseconds; undefined with an error when malformed.
 */
export function readDuration(v: unknown, path: string, errors: FieldErrors): number | undefined {
  if (typeof v !== "string" || !DURATION.test(v)) {
    errors.at(path, `${JSON.stringify(v)} is not a duration (e.g. 100ms, 2s, 1m30s; units h, m, s, ms)`);
    return undefined;
  }
  let ms = 0;
  for (const [, n, unit] of v.matchAll(DURATION_PART)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** Milliseconds as a protobuf Duration in JSON ("1.5s"). */
export function durationJson(ms: number): string {
  const s = Math.floor(ms / 1000);
  const rest = ms % 1000;
  return rest === 0 ? `${s}s` : `${s}.${String(rest).padStart(3, "0")}s`;
}

/** A share of requests as Envoy's FractionalPercent. */
export function percentJson(percent: number): { numerator: number; denominator: "HUNDRED" } {
  return { numerator: percent, denominator: "HUNDRED" };
}

const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;
const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * A Kubernetes resource quantity (`512Ki`, `1Mi`, `1000`, `1.5M`, `1e3`) or a plain number, as a
 * whole number of units, rounded up as Kubernetes does; undefined with an error when malformed.
 */
export function readQuantity(v: unknown, path: string, errors: FieldErrors): number | undefined {
  if (typeof v === "number") {
    if (Number.isFinite(v)) return Math.ceil(v);
  } else if (typeof v === "string") {
    const m = QUANTITY.exec(v);
    if (m) {
      const [, sign, digits, suffix] = m;
      let factor = 1;
      if (suffix !== undefined) factor = BINARY[suffix] ?? DECIMAL[suffix] ?? 10 ** Number(suffix.slice(1));
      const n = Number(digits) * factor;
      return Math.ceil(sign === "-" ? -n : n);
    }
  }
  errors.at(path, `${JSON.stringify(v)} is not a quantity (e.g. 1024, 512Ki, 1Mi)`);
  return undefined;
}

const MATCHER_KINDS = ["exact", "prefix", "suffix", "contains", "safeRegex"] as const;

/** kgateway's shared.StringMatcher (exactly one of exact, prefix, suffix, contains, safeRegex; ignoreCase). */
export function readStringMatcher(
  v: unknown,
  path: string,
  errors: FieldErrors,
): StringMatcherJson | undefined {
  const m = object(v, path, errors);
  if (!m) return undefined;
  unknownKeys(m, [...MATCHER_KINDS, "ignoreCase"], path, errors);
  const given = MATCHER_KINDS.filter((k) => m[k] !== undefined);
  if (given.length !== 1) {
    errors.at(path, `set exactly one of ${MATCHER_KINDS.join(", ")}`);
    return undefined;
  }
  const kind = given[0]!;
  const value = m[kind];
  if (typeof value !== "string" || (value === "" && kind !== "exact")) {
    errors.at(`${path}.${kind}`, "must be a non-empty string");
    return undefined;
  }
  const ignoreCase = readBool(m.ignoreCase, `${path}.ignoreCase`, errors);
  if (kind === "safeRegex") {
    if (!validRegex(value)) {
      errors.at(`${path}.safeRegex`, `${JSON.stringify(value)} is not a valid regular expression`);
      return undefined;
    }
    return { safeRegex: { regex: value } };
  }
  return { [kind]: value, ...(ignoreCase ? { ignoreCase: true } : {}) };
}

/**
 * Whether a pattern compiles (JavaScript's syntax; RE2 refuses a few more, such as backreferences
 * and lookarounds, which are refused here too).
 */
export function validRegex(pattern: string): boolean {
  if (/\\[1-9]|\(\?[=!<]/.test(pattern)) return false;
  try {
    new RegExp(pattern, "u");
    return true;
  } catch {
    return false;
  }
}

/** Control characters: never in a header value, an :authority or a stat prefix. */
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
