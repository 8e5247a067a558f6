// The rule for skipped tests in `node scripts/test.ts`: in CI (CI=true) a skipped test is a test that
// did not run, so the run fails unless skipping was asked for (WAYMARK_ALLOW_SKIP=1, or
// WAYMARK_SKIP_KUBE=1 for the tests that need a test cluster).

export const SKIP_VARIABLES = ["WAYMARK_ALLOW_SKIP", "WAYMARK_SKIP_KUBE"] as const;

/** The skipped tests and suites of a TAP report: `ok N - <name> # SKIP <reason>`. */
export function skippedInTap(tap: string): string[] {
  return [...tap.matchAll(/^\s*ok \d+ - (.*?) # SKIP\b ?(.*)$/gm)].map((m) =>
    m[2] ? `${m[1]} (${m[2]})` : m[1]!,
  );
}

export interface SkipVerdict {
  fail: boolean;
  /** What to print, or undefined when nothing was skipped or not in CI. */
  message: string | undefined;
}

export function skipVerdict(
  env: Record<string, string | undefined>,
  skippedCount: number,
  skipped: string[],
): SkipVerdict {
  if (skippedCount === 0 || env["CI"] !== "true") return { fail: false, message: undefined };
  const list = skipped.map((t) => `\n  - ${t}`).join("");
  const asked = SKIP_VARIABLES.filter((v) => env[v] === "1");
  if (asked.length > 0) {
    return {
      fail: false,
      message: `${skippedCount} test(s) skipped, as asked (${asked.map((v) => `${v}=1`).join(", ")}):${list}`,
    };
  }
  return {
    fail: true,
    message:
      `CI=true and ${skippedCount} test(s) skipped, but neither WAYMARK_ALLOW_SKIP=1 nor WAYMARK_SKIP_KUBE=1 ` +
      `asked for it: a skipped test did not run, so this run fails.${list}`,
  };
}
