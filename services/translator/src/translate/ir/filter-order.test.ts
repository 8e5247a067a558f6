import assert from "node:assert/strict";
import { test } from "node:test";
import { HTTP_FILTER_SLOTS, inHttpOrder, inNetworkOrder } from "./filter-order.ts";

test("HTTP filters come out in slot order, the router last, filters of one slot in their given order", () => {
  const out = inHttpOrder([
    { slot: "router", filter: "router" },
    { slot: "transformation", filter: "lua-1" },
    { slot: "authorization", filter: "rbac" },
    { slot: "transformation", filter: "lua-2" },
    { slot: "authentication", filter: "jwt" },
    { slot: "cors", filter: "cors" },
  ]);
  assert.deepEqual(out, ["jwt", "rbac", "cors", "lua-1", "lua-2", "router"]);
  assert.equal(HTTP_FILTER_SLOTS.at(-1), "router");
});

test("network filters: the peer identity first, authorization before the terminal filter", () => {
  const out = inNetworkOrder([
    { slot: "terminal", filter: "hcm" },
    { slot: "authorization", filter: "rbac" },
    { slot: "peerIdentity", filter: "set_filter_state" },
  ]);
  assert.deepEqual(out, ["set_filter_state", "rbac", "hcm"]);
});
