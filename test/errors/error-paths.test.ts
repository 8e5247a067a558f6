// Real error paths of the services and packages, each made to fail: every error is a WaymarkError with a
// code of the table, and what a user is shown (describeError) says what to fix. It lives here, beside
// the end-to-end suites, because it reaches into every service (no package imports a service); the unit
// suite runs it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeError, ERROR_CODES, type ErrorCode, isErrorCode, isWaymarkError } from "@waymark/api";
import { natsTlsFromEnv } from "@waymark/bus";
import { encodeResource, TypeUrl } from "@waymark/envoy-proto";
import { compileTemplate } from "@waymark/inja";
import { loadConfig as translatorConfig } from "../../services/translator/src/config.ts";
import { parseEnvelope } from "../../services/translator/src/service/object-index.ts";
import { loadConfig as watcherConfig } from "../../services/watcher/src/config.ts";
import { verifyJwt } from "../../services/xds-server/src/auth/jwt.ts";
import { loadConfig as xdsServerConfig } from "../../services/xds-server/src/config.ts";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  assert.fail("expected an error");
}

const samples: Array<[string, ErrorCode, () => unknown]> = [
  [
    "translator: a bad setting",
    "invalid-config",
    () => translatorConfig({ WAYMARK_DEBOUNCE_QUIET_MS: "-1" }),
  ],
  ["watcher: no source", "invalid-config", () => watcherConfig({})],
  ["xds-server: a bad address", "invalid-config", () => xdsServerConfig({ WAYMARK_XDS_ADDRESS: "nowhere" })],
  [
    "bus: a client certificate without its key",
    "invalid-config",
    () => natsTlsFromEnv({ WAYMARK_NATS_TLS_CERT: "c.pem" }),
  ],
  [
    "translator: a wm-objects entry that is not JSON",
    "malformed-entry",
    () => parseEnvelope("k", new TextEncoder().encode("{")),
  ],
  [
    "envoy-proto: an unknown field",
    "invalid-resource",
    () => encodeResource(TypeUrl.cluster, "c1", { name: "c1", conectTimeout: "1s" }),
  ],
  [
    "inja: an unknown function",
    "template-unknown-function",
    () => compileTemplate("{{ nope() }}", { phase: "request", parseAs: "AsString" }),
  ],
  [
    "inja: an unclosed tag",
    "template-unterminated",
    () => compileTemplate("{# never closed", { phase: "request", parseAs: "AsString" }),
  ],
  [
    "xds-server: a token that is not a JWT",
    "token-malformed",
    () => verifyJwt("not-a-jwt", { keys: new Map(), issuer: "i", audience: "a", now: 0, skewSeconds: 0 }),
  ],
];

for (const [what, code, f] of samples) {
  test(`${what}: code ${code}, and the message says what to fix`, () => {
    const err = thrown(f);
    assert.ok(isWaymarkError(err), `${what} threw ${String(err)}`);
    assert.ok(isErrorCode(err.code), `${err.code} is in the table`);
    assert.equal(err.code, code);
    assert.equal(err.fix, ERROR_CODES[code].fix);
    const shown = describeError(err);
    assert.ok(shown.startsWith(err.message.trimEnd()), shown);
    assert.ok(shown.endsWith(ERROR_CODES[code].fix), shown);
  });
}

test("a bad setting at start-up names the variable and says to set it", () => {
  const shown = describeError(thrown(() => xdsServerConfig({ WAYMARK_XDS_ADDRESS: "nowhere" })));
  assert.match(shown, /^WAYMARK_XDS_ADDRESS must be host:port, got "nowhere"\. Set the environment variable/);
});
