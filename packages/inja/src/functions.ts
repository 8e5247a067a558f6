// The functions templates may call: kgateway's (v2.2+, MiniJinja "rustformation") table. Each maps to
// a fixed identifier of the Lua prelude; the template's own spelling is never emitted as code.

export interface FunctionSpec {
  minArgs: number;
  maxArgs: number;
  /** Field of the prelude table W implementing it (see lua/prelude.lua). */
  lua: string;
  summary: string;
}

export const FUNCTIONS: Readonly<Record<string, FunctionSpec>> = Object.freeze({
  header: { minArgs: 1, maxArgs: 1, lua: "f_header", summary: "header(name)" },
  request_header: { minArgs: 1, maxArgs: 1, lua: "f_request_header", summary: "request_header(name)" },
  get_cookie: { minArgs: 1, maxArgs: 1, lua: "f_get_cookie", summary: "get_cookie(name)" },
  get_cookie_i: { minArgs: 1, maxArgs: 1, lua: "f_get_cookie_i", summary: "get_cookie_i(name)" },
  body: { minArgs: 0, maxArgs: 0, lua: "f_body", summary: "body()" },
  context: { minArgs: 0, maxArgs: 0, lua: "f_context", summary: "context()" },
  env: { minArgs: 1, maxArgs: 1, lua: "f_env", summary: "env(name)" },
  substring: { minArgs: 2, maxArgs: 3, lua: "f_substring", summary: "substring(s, start[, length])" },
  base64_encode: { minArgs: 1, maxArgs: 1, lua: "f_base64_encode", summary: "base64_encode(s)" },
  base64_decode: { minArgs: 1, maxArgs: 1, lua: "f_base64_decode", summary: "base64_decode(s)" },
  base64url_encode: { minArgs: 1, maxArgs: 1, lua: "f_base64url_encode", summary: "base64url_encode(s)" },
  base64url_decode: { minArgs: 1, maxArgs: 1, lua: "f_base64url_decode", summary: "base64url_decode(s)" },
  replace_with_random: {
    minArgs: 2,
    maxArgs: 2,
    lua: "f_replace_with_random",
    summary: "replace_with_random(s, pattern)",
  },
  replace_with_string: {
    minArgs: 3,
    maxArgs: 3,
    lua: "f_replace_with_string",
    summary: "replace_with_string(s, pattern, replacement)",
  },
  raw_string: { minArgs: 1, maxArgs: 1, lua: "f_raw_string", summary: "raw_string(s)" },
});

/** Functions of other dialects (classic Inja, kgateway < 2.2) that kgateway 2.2+ does not offer. */
export const NOT_AVAILABLE: ReadonlySet<string> = new Set([
  "word_count",
  "trim",
  "extraction",
  "dynamic_metadata",
  "data_source",
  "host_metadata",
  "cluster_metadata",
  "clusterMetadata",
  "at",
  "length",
  "default",
  "exists",
  "existsIn",
  "isString",
  "isNumber",
  "upper",
  "lower",
  "range",
  "split",
]);

export function isFunction(name: string): boolean {
  return Object.hasOwn(FUNCTIONS, name);
}

/** Properties of the `loop` variable inside a for block. */
export const LOOP_PROPERTIES: ReadonlySet<string> = new Set([
  "index",
  "index0",
  "revindex",
  "revindex0",
  "first",
  "last",
  "length",
]);
