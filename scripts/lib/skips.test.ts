import assert from "node:assert/strict";
import { test } from "node:test";
import { skippedInTap, skipVerdict } from "./skips.ts";

const tap = `TAP version 13
# Subtest: LeaderElector on a real API server
ok 1 - LeaderElector on a real API server # SKIP WAYMARK_SKIP_KUBE=1
# Subtest: plain
ok 2 - plain
    ok 1 - inner # SKIP
not ok 3 - broken
# skipped 2
`;

test("the skipped tests of a TAP report, with their reasons", () => {
  assert.deepEqual(skippedInTap(tap), ["LeaderElector on a real API server (WAYMARK_SKIP_KUBE=1)", "inner"]);
  assert.deepEqual(skippedInTap("ok 1 - fine\n"), []);
});

test("in CI a run with skipped tests fails unless skipping was asked for", () => {
  const names = ["a (why)"];
  const failed = skipVerdict({ CI: "true" }, 1, names);
  assert.equal(failed.fail, true);
  assert.match(
    failed.message ?? "",
    /CI=true and 1 test\(s\) skipped.*WAYMARK_ALLOW_SKIP=1[\s\S]*- a \(why\)/,
  );
  for (const asked of ["WAYMARK_ALLOW_SKIP", "WAYMARK_SKIP_KUBE"]) {
    const ok = skipVerdict({ CI: "true", [asked]: "1" }, 1, names);
    assert.equal(ok.fail, false, asked);
    assert.match(ok.message ?? "", new RegExp(`as asked \\(${asked}=1\\)`));
  }
  assert.equal(skipVerdict({ CI: "true", WAYMARK_ALLOW_SKIP: "0" }, 1, names).fail, true);
  assert.deepEqual(skipVerdict({}, 1, names), { fail: false, message: undefined }, "outside CI");
  assert.deepEqual(skipVerdict({ CI: "true" }, 0, []), { fail: false, message: undefined }, "none skipped");
});
