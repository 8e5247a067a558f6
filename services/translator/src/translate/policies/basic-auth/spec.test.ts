import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { Secret } from "@waymark/api";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import type { FeatureContext } from "../feature.ts";
import { basicAuthFeature } from "./index.ts";
import { readBasicAuth } from "./spec.ts";

const sha = (password: string) => `{SHA}${createHash("sha1").update(password).digest("base64")}`;
const ALICE = `alice:${sha("alice-pw")}`;
const BOB = `bob:${sha("bob-pw")}`;
const BCRYPT = "$2y$05$H5iJbsJPn0dZVD6kM6tOQuVJxLw7KjKCGvWlhG1SxNxLNn6hZoKYy";
const APR1 = "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/";

const secret = (
  name: string,
  entries: Record<string, string>,
  via: "data" | "stringData" = "data",
): Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: "ns" },
  ...(via === "data"
    ? {
        data: Object.fromEntries(
          Object.entries(entries).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
        ),
      }
    : { stringData: entries }),
});

function ctx(secrets: Secret[]): FeatureContext {
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: (n) => secrets.find((s) => s.metadata.name === n),
    secretsSelected: () => [],
    extension: () => ({ ok: false, errors: [{ path: "-", message: "no GatewayExtensions here" }] }),
    backend: () => ({ ok: false, message: "none" }),
  };
}
const errors = (r: ReturnType<typeof readBasicAuth>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}${e.subject ? ` (${e.subject})` : ""}: ${e.message}`);
const htpasswd = (r: ReturnType<typeof readBasicAuth>) =>
  r.ok && r.value.kind === "require" ? r.value.htpasswd : `not read: ${errors(r).join("; ")}`;

test("exactly one of users, secretRef and disable; disable: {}", () => {
  for (const v of [{}, { users: [ALICE], disable: {} }, { users: [ALICE], secretRef: { name: "s" } }])
    assert.match(
      errors(readBasicAuth(v, ctx([])))[0] ?? "",
      /^basicAuth: set exactly one of users, secretRef and disable/,
    );
  assert.deepEqual(readBasicAuth({ disable: {} }, ctx([])), { ok: true, value: { kind: "disable" } });
  assert.match(
    errors(readBasicAuth({ disable: { x: 1 } }, ctx([])))[0] ?? "",
    /basicAuth\.disable: must be an empty object/,
  );
  assert.match(
    errors(readBasicAuth({ user: [ALICE], users: [ALICE] }, ctx([])))[0] ?? "",
    /basicAuth\.user: unknown field/,
  );
});

test("inline users: {SHA} lines, trimmed, comments and blank lines skipped", () => {
  assert.equal(
    htpasswd(readBasicAuth({ users: [ALICE, ` ${BOB}\r`, "# ops", ""] }, ctx([]))),
    `${ALICE}\n${BOB}`,
  );
  // An entry holding several lines is read line by line, as kgateway joins the entries with newlines.
  assert.equal(htpasswd(readBasicAuth({ users: [`${ALICE}\n${BOB}`] }, ctx([]))), `${ALICE}\n${BOB}`);
  // The same line twice is one user (a file concatenated with itself).
  assert.equal(htpasswd(readBasicAuth({ users: [ALICE, ALICE] }, ctx([]))), ALICE);
  assert.match(
    errors(readBasicAuth({ users: [] }, ctx([])))[0] ?? "",
    /basicAuth\.users: needs at least one user/,
  );
  assert.match(
    errors(readBasicAuth({ users: ["# only a comment"] }, ctx([])))[0] ?? "",
    /basicAuth\.users: no user/,
  );
  assert.match(
    errors(readBasicAuth({ users: [ALICE, 3] }, ctx([])))[0] ?? "",
    /basicAuth\.users\[1\]: must be a string/,
  );
});

test("a hash Envoy cannot check makes the policy Invalid, naming the field and the user, never the hash", () => {
  const r = readBasicAuth(
    {
      users: [
        ALICE,
        `bob:${BCRYPT}`,
        `carol:${APR1}`,
        "dave:plain-text-password",
        "erin:{SHA}tooShort",
        "no colon here",
        ":{SHA}x",
        "frank:",
        `alice:${sha("other")}`,
      ],
    },
    ctx([]),
  );
  const e = errors(r);
  assert.deepEqual(e, [
    "basicAuth.users[1] (bob): a bcrypt hash; Envoy checks only {SHA} (SHA-1) hashes: write the line with htpasswd -s",
    "basicAuth.users[2] (carol): an apr1 (Apache MD5) hash; Envoy checks only {SHA} (SHA-1) hashes: write the line with htpasswd -s",
    "basicAuth.users[3] (dave): not a {SHA} hash (crypt or plain text); Envoy checks only {SHA} (SHA-1) hashes: write the line with htpasswd -s",
    "basicAuth.users[4] (erin): the {SHA} hash is not 28 base64 characters (a SHA-1 digest)",
    "basicAuth.users[5]: not an htpasswd line (user:hash)",
    "basicAuth.users[6]: the user name is empty",
    "basicAuth.users[7] (frank): the hash is empty",
    "basicAuth.users[8] (alice): listed twice with different hashes",
  ]);
  const text = e.join("\n");
  for (const hidden of [
    BCRYPT,
    APR1,
    "plain-text-password",
    "tooShort",
    "no colon here",
    sha("other"),
    sha("alice-pw"),
  ])
    assert.ok(!text.includes(hidden), `an error shows ${hidden}`);
});

test("secretRef: the htpasswd file under .htpasswd by default, or key; data or stringData", () => {
  const file = `# users\n${ALICE}\r\n${BOB}\n`;
  assert.equal(
    htpasswd(readBasicAuth({ secretRef: { name: "u" } }, ctx([secret("u", { ".htpasswd": file })]))),
    `${ALICE}\n${BOB}`,
  );
  assert.equal(
    htpasswd(
      readBasicAuth(
        { secretRef: { name: "u", key: "users" } },
        ctx([secret("u", { users: BOB }, "stringData")]),
      ),
    ),
    BOB,
  );
  assert.equal(
    htpasswd(
      readBasicAuth(
        { secretRef: { name: "u", namespace: "ns" } },
        ctx([secret("u", { ".htpasswd": ALICE })]),
      ),
    ),
    ALICE,
  );
});

test("secretRef errors name the Secret, key, line and user, never a value", () => {
  assert.deepEqual(errors(readBasicAuth({ secretRef: { name: "nope" } }, ctx([]))), [
    "basicAuth.secretRef: Secret ns/nope not found; create it or fix the name",
  ]);
  assert.deepEqual(
    errors(readBasicAuth({ secretRef: { name: "u" } }, ctx([secret("u", { htpasswd: ALICE, other: "x" })]))),
    ["basicAuth.secretRef.key: Secret ns/u has no key .htpasswd (its keys: htpasswd, other)"],
  );
  assert.deepEqual(errors(readBasicAuth({ secretRef: { name: "u" } }, ctx([secret("u", {})]))), [
    "basicAuth.secretRef.key: Secret ns/u has no key .htpasswd (it is empty)",
  ]);
  assert.deepEqual(
    errors(readBasicAuth({ secretRef: { name: "u" } }, ctx([secret("u", { ".htpasswd": "# none\n" })]))),
    ["basicAuth.secretRef: Secret ns/u key .htpasswd holds no user"],
  );
  const bad = errors(
    readBasicAuth(
      { secretRef: { name: "u" } },
      ctx([secret("u", { ".htpasswd": `${ALICE}\nbob:${BCRYPT}\n` })]),
    ),
  );
  assert.deepEqual(bad, [
    "basicAuth.secretRef (bob): Secret ns/u key .htpasswd line 2: a bcrypt hash; Envoy checks only {SHA} (SHA-1) hashes: write the line with htpasswd -s",
  ]);
  assert.ok(!bad.join().includes(BCRYPT));
  assert.deepEqual(errors(readBasicAuth({ secretRef: { name: "u", namespace: "other" } }, ctx([]))), [
    "basicAuth.secretRef.namespace (other): a policy may only use Secrets of its own namespace (ns)",
  ]);
  assert.match(
    errors(readBasicAuth({ secretRef: { name: "u", key: "" } }, ctx([])))[0] ?? "",
    /secretRef\.key: must be/,
  );
  assert.match(
    errors(readBasicAuth({ secretRef: {} }, ctx([])))[0] ?? "",
    /secretRef\.name: needs the Secret's name/,
  );
});

test("per route: a FilterConfig with BasicAuthPerRoute, or disabled; equality by the users", () => {
  const r = readBasicAuth({ users: [ALICE] }, ctx([]));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(basicAuthFeature.perRoute?.(r.value), {
    "waymark.basic_auth": {
      "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
      config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute",
        users: { inlineString: ALICE },
      },
    },
  });
  assert.deepEqual(basicAuthFeature.perRoute?.({ kind: "disable" }), {
    "waymark.basic_auth": {
      "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
      disabled: true,
    },
  });
  const fromSecret = readBasicAuth(
    { secretRef: { name: "u" } },
    ctx([secret("u", { ".htpasswd": `${ALICE}\n` })]),
  );
  assert.ok(fromSecret.ok && basicAuthFeature.equal(r.value, fromSecret.value));
  const other = readBasicAuth({ users: [BOB] }, ctx([]));
  assert.ok(other.ok && !basicAuthFeature.equal(r.value, other.value));
  assert.ok(!basicAuthFeature.equal(r.value, { kind: "disable" }));
});
