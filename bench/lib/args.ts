// `key=value` arguments of the benchmark scenarios, with defaults.
export function parseArgs<T extends Record<string, string | number>>(args: string[], defaults: T): T {
  const out: Record<string, string | number> = { ...defaults };
  for (const a of args) {
    const m = /^([a-zA-Z]+)=(.*)$/.exec(a);
    if (!m || !(m[1]! in defaults)) {
      throw new Error(
        `unknown argument ${JSON.stringify(a)}; expected key=value with key in ${Object.keys(defaults).join(", ")}`,
      );
    }
    out[m[1]!] = typeof defaults[m[1]!] === "number" ? Number(m[2]) : m[2]!;
    if (Number.isNaN(out[m[1]!])) throw new Error(`${m[1]} must be a number`);
  }
  return out as T;
}

/** A comma-separated list of numbers ("100,500,1000"). */
export const numbers = (s: string | number) => String(s).split(",").map(Number);
