import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ownedStatus, projectFields } from "./owned-fields.ts";

const cond = (type: string) => ({ type, status: "True", reason: type, message: type });

describe("owned-fields", () => {
  test("a listMap keeps only the elements whose keys the manager owns, in live order", () => {
    const status = { conditions: [cond("Other"), cond("Accepted"), cond("Programmed")] };
    const set = {
      "f:conditions": {
        'k:{"type":"Programmed"}': { ".": {}, "f:type": {}, "f:status": {} },
        'k:{"type":"Accepted"}': { ".": {}, "f:type": {}, "f:status": {}, "f:reason": {}, "f:message": {} },
      },
    };
    assert.deepEqual(projectFields(status, set), {
      conditions: [cond("Accepted"), { type: "Programmed", status: "True" }],
    });
  });

  test("an empty set is the whole value (an atomic list or map); `.` alone owns only the node", () => {
    const status = {
      addresses: [{ value: "10.0.0.1" }],
      listeners: [{ name: "a", supportedKinds: [{ kind: "X" }] }],
    };
    assert.deepEqual(projectFields(status, { "f:addresses": {} }), { addresses: [{ value: "10.0.0.1" }] });
    assert.deepEqual(
      projectFields(status, { "f:listeners": { 'k:{"name":"a"}': { ".": {}, "f:supportedKinds": {} } } }),
      { listeners: [{ supportedKinds: [{ kind: "X" }] }] },
    );
    assert.deepEqual(projectFields({ a: 1 }, { ".": {} }), {});
  });

  test("set elements (v:) and indexes (i:) select by value and position; missing ones are skipped", () => {
    assert.deepEqual(projectFields(["x", "y", "z"], { 'v:"z"': {}, 'v:"q"': {}, "i:0": {} }), ["x", "z"]);
    assert.deepEqual(projectFields({ a: 1 }, { "f:b": {} }), {});
  });

  test("ownedStatus reads the manager's Apply entry on the status subresource only", () => {
    const object = {
      metadata: {
        managedFields: [
          { manager: "waymark", operation: "Apply", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } },
          {
            manager: "waymark",
            operation: "Apply",
            subresource: "status",
            fieldsType: "FieldsV1",
            fieldsV1: { "f:status": { "f:conditions": { 'k:{"type":"Accepted"}': {} } } },
          },
          {
            manager: "other",
            operation: "Apply",
            subresource: "status",
            fieldsType: "FieldsV1",
            fieldsV1: { "f:status": { "f:conditions": { 'k:{"type":"Other"}': {} } } },
          },
        ],
      },
      status: { conditions: [cond("Other"), cond("Accepted")] },
    };
    assert.deepEqual(ownedStatus(object, "waymark"), { conditions: [cond("Accepted")] });
    assert.deepEqual(ownedStatus(object, "nobody"), {});
    assert.equal(ownedStatus({ metadata: {}, status: {} }, "waymark"), undefined);
  });
});
