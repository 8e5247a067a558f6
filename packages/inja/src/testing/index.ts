// Test support: a real Lua VM (Lua 5.4 compiled to WebAssembly, npm wasmoon) and a Lua double of
// Envoy's stream handle API (fake-envoy.lua). Data crosses into Lua only inside string literals
// made by luaString (byte-exact), and comes back as ASCII JSON whose strings are byte strings.
import { readFileSync } from "node:fs";
import { LuaFactory } from "wasmoon";
import { luaByteString, luaString } from "../lua/literal.ts";

export const FAKE_ENVOY_LUA = readFileSync(new URL("./fake-envoy.lua", import.meta.url), "utf8");

let factory: LuaFactory | undefined;

export interface LuaVm {
  /** Runs a chunk and returns its first result (strings only come back reliably as ASCII). */
  run(source: string): Promise<unknown>;
  close(): void;
}

export async function createLua(): Promise<LuaVm> {
  factory ??= new LuaFactory();
  const engine = await factory.createEngine({ injectObjects: false, enableProxy: false });
  return {
    // wasmoon leaks a stack slot per value doString returns (the VM breaks after a few dozen), so the
    // chunk's result goes through a global instead.
    run: async (source) => {
      await engine.doString(`WAYMARK_RESULT = (function()\n${source}\nend)()`);
      const v: unknown = engine.global.get("WAYMARK_RESULT");
      await engine.doString("WAYMARK_RESULT = nil");
      return v;
    },
    close: () => engine.global.close(),
  };
}

export { luaByteString, luaString };

/** Lua source of a list of {name, value} header pairs (byte strings). */
export function luaHeaderList(headers: ReadonlyArray<readonly [string, string]>): string {
  return `{${headers.map(([n, v]) => `{${luaByteString(n)}, ${luaByteString(v)}}`).join(", ")}}`;
}

/** Lua source that loads `chunk` (a separate chunk, as Envoy loads a script) and returns nothing. */
export function luaLoad(chunk: string): string {
  return `assert(load(${luaString(chunk)}, "=generated"))()`;
}

/** Parses the JSON produced by fake.json (strings are byte strings). */
export function parseFakeJson(text: unknown): unknown {
  if (typeof text !== "string") throw new Error(`expected a JSON string from Lua, got ${typeof text}`);
  return JSON.parse(text);
}
