import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  describeError,
  ERROR_CODES,
  type ErrorCode,
  isErrorCode,
  isWaymarkError,
  WaymarkError,
} from "./errors.ts";
import { createLogger } from "./log.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** Every TypeScript source file that is not a test, wherever the packages live (packages/, tools/, services/). */
function sources(): Map<string, string> {
  const files = globSync("{packages,services,tools}/*/src/**/*.ts", { cwd: ROOT }).filter(
    (f) => !f.endsWith(".test.ts") && !f.includes("/gen/") && !f.includes("node_modules"),
  );
  return new Map(files.map((f) => [f, readFileSync(`${ROOT}${f}`, "utf8")]));
}

test("every code has a meaning and a fix written as a sentence", () => {
  assert.ok(CODES.length > 0);
  for (const code of CODES) {
    const row = ERROR_CODES[code];
    assert.match(code, /^[a-z]+(-[a-z]+)*$/, `${code}: lower-case words joined by -`);
    assert.ok(row.source && row.meaning, `${code}: source and meaning`);
    assert.match(row.fix, /^[A-Z].*\.$/s, `${code}: the fix is a sentence`);
  }
});

test("the code table is closed: every code is used by the sources, and every code-like literal a WaymarkError gets is in it", () => {
  const src = sources();
  // Families built from a template literal (`token-${problem}`, `template-${kind}`): the suffix must be
  // a literal of a file that builds the family's codes.
  const families = new Map<string, string>();
  for (const text of src.values())
    for (const m of text.matchAll(/`([a-z]+-)\$\{/g)) families.set(m[1]!, (families.get(m[1]!) ?? "") + text);
  const unused = CODES.filter((code) => {
    if (countOutsideTable(src, code) > 0) return false;
    const family = [...families.keys()].find((p) => code.startsWith(p));
    return !(family && families.get(family)!.includes(`"${code.slice(family.length)}"`));
  });
  assert.deepEqual(unused, [], "codes in ERROR_CODES that no source raises: remove them or use them");

  // Every `new WaymarkError("<code>"` and `super("<code>"` in a WaymarkError subclass names a code of the table.
  const named = new Set<string>();
  for (const text of src.values()) {
    for (const m of text.matchAll(/new WaymarkError\(\s*"([^"]+)"/g)) named.add(m[1]!);
    if (/extends (WaymarkError|ConfigError)\b/.test(text))
      for (const m of text.matchAll(/super\(\s*"([^"]+)"/g)) named.add(m[1]!);
  }
  assert.ok(named.size > 5, `found the error classes (${[...named].join(", ")})`);
  assert.deepEqual(
    [...named].filter((c) => !isErrorCode(c)),
    [],
    "codes raised that are not in ERROR_CODES",
  );
});

/** How often `"code"` appears in the sources, leaving out the table itself. */
function countOutsideTable(src: Map<string, string>, code: string): number {
  let n = 0;
  for (const [file, text] of src) {
    const rest =
      file === "packages/api/src/errors.ts" ? text.slice(text.indexOf("export class WaymarkError")) : text;
    n += rest.split(`"${code}"`).length - 1;
  }
  return n;
}

test("every code is documented in docs/observability.md, and the docs list no other", () => {
  const doc = readFileSync(`${ROOT}docs/observability.md`, "utf8");
  const section = doc.slice(doc.indexOf("## Errors"));
  assert.ok(section.startsWith("## Errors"), "docs/observability.md has an Errors section");
  const documented = new Set([...section.matchAll(/^\| `([a-z-]+)` +\|/gm)].map((m) => m[1]!));
  assert.deepEqual(
    CODES.filter((c) => !documented.has(c)),
    [],
    "codes missing from the docs",
  );
  assert.deepEqual(
    [...documented].filter((c) => !isErrorCode(c)),
    [],
    "codes in the docs that do not exist",
  );
});

test("an error carries its code's fix, or its own; describeError composes it into the message", () => {
  const e = new ConfigError("WAYMARK_X=1: expected on or off");
  assert.ok(isWaymarkError(e));
  assert.ok(e instanceof WaymarkError && e instanceof Error);
  assert.equal(e.code, "invalid-config");
  assert.equal(e.fix, ERROR_CODES["invalid-config"].fix);
  assert.equal(describeError(e), `WAYMARK_X=1: expected on or off. ${ERROR_CODES["invalid-config"].fix}`);
  const own = new WaymarkError("kv-put-failed", "put x: timed out.", { fix: "Start NATS." });
  assert.equal(describeError(own), "put x: timed out. Start NATS.");
  const cause = new Error("inner");
  assert.equal(new WaymarkError("kube-api", "m", { cause }).cause, cause);
  // Other errors are shown as they are.
  assert.equal(describeError(new Error("plain")), "plain");
  assert.equal(describeError("text"), "text");
  assert.equal(isWaymarkError(new Error("plain")), false);
  assert.equal(isErrorCode("ENOENT"), false);
});

test("a logged WaymarkError has its code as a top-level field and its fix in the error", () => {
  const lines: string[] = [];
  const log = createLogger("test", {}, (l) => lines.push(l));
  log.error("cannot start", { err: new ConfigError("WAYMARK_Y is required") });
  log.warn("plain", { err: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(first!["error_code"], "invalid-config");
  assert.deepEqual(first!["err"], {
    name: "ConfigError",
    message: "WAYMARK_Y is required",
    code: "invalid-config",
    fix: ERROR_CODES["invalid-config"].fix,
  });
  assert.equal(second!["error_code"], undefined, "only Waymark's codes are error_code");
  assert.deepEqual(second!["err"], { name: "Error", message: "refused", code: "ECONNREFUSED" });
});
