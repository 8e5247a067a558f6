import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { foreignEntries, mergedStatus, statusCanon, withdrawnStatus } from "./status-merge.ts";

const OURS = "waymark.dev/waymark";
const entry = (controllerName: string, parent: string, ok = true) => ({
  parentRef: { group: "", kind: "Service", name: parent },
  controllerName,
  conditions: [{ type: "Accepted", status: ok ? "True" : "False" }],
});

describe("status-merge", () => {
  const theirs = entry("example.com/mesh", "a", false);
  const live = { parents: [theirs, entry(OURS, "a")] };

  test("our computed entries replace ours, the other controllers' stay (in their order)", () => {
    const want = { parents: [entry(OURS, "a", false), entry(OURS, "b")] };
    assert.deepEqual(mergedStatus(live, want, "parents", [OURS]), {
      parents: [theirs, entry(OURS, "a", false), entry(OURS, "b")],
    });
  });

  test("an entry is ours when its controllerName is configured or our computed entries carry it", () => {
    const want = { parents: [entry("custom.example/ctl", "a")] };
    const current = { parents: [entry("custom.example/ctl", "old"), theirs] };
    assert.deepEqual(foreignEntries(current, "parents", [], want), [theirs]);
    assert.deepEqual(foreignEntries(current, "parents", ["custom.example/ctl"]), [theirs]);
  });

  test("kinds without a shared list apply what was computed", () => {
    const want = { conditions: [{ type: "Accepted" }] };
    assert.equal(mergedStatus({ conditions: [{ type: "X" }] }, want, undefined, [OURS]), want);
  });

  test("no live status, or no list in it: just ours", () => {
    const want = { parents: [entry(OURS, "a")] };
    assert.deepEqual(mergedStatus(undefined, want, "parents", [OURS]), want);
    assert.deepEqual(mergedStatus({}, want, "parents", [OURS]), want);
  });

  test("withdrawing keeps the other controllers' entries; nothing to do when none is ours", () => {
    assert.deepEqual(withdrawnStatus(live, "parents", [OURS]), { parents: [theirs] });
    assert.deepEqual(withdrawnStatus({ parents: [entry(OURS, "a")] }, "parents", [OURS]), { parents: [] });
    assert.equal(withdrawnStatus({ parents: [theirs] }, "parents", [OURS]), undefined);
    assert.equal(withdrawnStatus(undefined, "parents", [OURS]), undefined);
  });

  test("comparison ignores key order and the order of the shared list's entries, nothing else", () => {
    const a = { parents: [theirs, entry(OURS, "a")] };
    const b = { parents: [entry(OURS, "a"), theirs] };
    assert.equal(statusCanon(a, "parents"), statusCanon(b, "parents"));
    assert.notEqual(statusCanon(a, undefined), statusCanon(b, undefined));
    assert.notEqual(
      statusCanon(a, "parents"),
      statusCanon({ parents: [theirs, entry(OURS, "a", false)] }, "parents"),
    );
    assert.equal(statusCanon(undefined, "parents"), statusCanon({}, "parents"));
  });

  describe("Istio's conditions, attributed by type", () => {
    const OWNERS = { key: "type", values: ["WaypointAccepted", "waymark.dev/Translated"] };
    const c = (type: string, status = "True", reason = type) => ({ type, status, reason, message: "" });
    const istiod = c("Reconciled");
    const live = {
      conditions: [istiod, c("WaypointAccepted"), c("waymark.dev/Translated")],
      validationMessages: [{ level: "WARNING", type: { code: "IST0001" } }],
    };

    test("our types are replaced and the other types stay, in their order", () => {
      const want = { conditions: [c("WaypointAccepted", "False", "AncestorNotBound")] };
      // Translated is ours although not computed this time: it goes.
      assert.deepEqual(mergedStatus(live, want, "conditions", OWNERS), {
        conditions: [istiod, c("WaypointAccepted", "False", "AncestorNotBound")],
      });
    });

    test("a type our computed conditions carry is ours too", () => {
      const want = { conditions: [c("waymark.dev/Other")] };
      const current = { conditions: [c("waymark.dev/Other", "False"), istiod] };
      assert.deepEqual(foreignEntries(current, "conditions", OWNERS, want), [istiod]);
    });

    test("withdrawing keeps the other types; nothing to do when no condition is ours", () => {
      assert.deepEqual(withdrawnStatus(live, "conditions", OWNERS), { conditions: [istiod] });
      assert.equal(withdrawnStatus({ conditions: [istiod] }, "conditions", OWNERS), undefined);
      assert.equal(withdrawnStatus({ validationMessages: [] }, "conditions", OWNERS), undefined);
    });

    test("a condition named controllerName-like is not confused with the controllerName key", () => {
      const entries = [{ controllerName: "WaypointAccepted", type: "Reconciled" }];
      assert.deepEqual(foreignEntries({ conditions: entries }, "conditions", OWNERS), entries);
      assert.deepEqual(foreignEntries({ conditions: entries }, "conditions", ["WaypointAccepted"]), []);
    });
  });
});
