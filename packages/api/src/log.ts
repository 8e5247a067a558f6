// Structured JSON logs, one object per line on stderr. Level from WAYMARK_LOG_LEVEL (default info).
import { WaymarkError } from "./errors.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

// An error in a log line: its name, message and code (a WaymarkError's, or a system error's such as
// ECONNREFUSED), and for a WaymarkError what to do about it.
function errorFields(v: unknown): unknown {
  if (v instanceof Error) {
    const out: Record<string, unknown> = { name: v.name, message: v.message };
    if ("code" in v) out["code"] = (v as { code: unknown }).code;
    if (v instanceof WaymarkError) out["fix"] = v.fix;
    return out;
  }
  return v;
}

export function createLogger(
  service: string,
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const env = (process.env["WAYMARK_LOG_LEVEL"] ?? "info") as LogLevel;
  const min = ORDER[env] ?? ORDER.info;
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, service, msg, ...base };
    if (fields)
      for (const [k, v] of Object.entries(fields)) {
        rec[k] = errorFields(v);
        // The first WaymarkError's code is also a top-level field, so that a query need not know
        // under which name the error was logged.
        if (v instanceof WaymarkError && !("error_code" in rec)) rec["error_code"] = v.code;
      }
    write(`${JSON.stringify(rec)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (f) => createLogger(service, { ...base, ...f }, write),
  };
}
