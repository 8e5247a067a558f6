// The Gateway API mesh conformance suite as data: the conformance module is fetched at test time
// (scripts/bootstrap-conformance.sh, Go module proxy) and its Go test sources are read by our
// extractor (../extract, go/ast) into the requests and expectations below. Nothing of the suite is
// copied into this repository.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..", "..", "..");

/** The Go `http.Request` of a case, as the suite writes it. */
export interface SuiteRequest {
  Host?: string;
  Method?: string;
  Path?: string;
  Headers?: Record<string, string>;
  UnfollowRedirect?: boolean;
  Protocol?: string;
}

/** The Go `http.ExpectedResponse` literal of a case (absent fields are Go zero values). */
export interface ExpectedResponse {
  TestCaseName?: string;
  Request: SuiteRequest;
  ExpectedRequest?: { Request?: SuiteRequest; AbsentHeaders?: string[] };
  RedirectRequest?: { Scheme?: string; Host?: string; Port?: string; Path?: string };
  Response?: {
    StatusCode?: number;
    StatusCodes?: number[];
    Headers?: Record<string, string>;
    AbsentHeaders?: string[];
  };
  Backend?: string;
  Namespace?: string;
}

export interface SuiteRun {
  client: { app: string; namespace: string };
  cases: ExpectedResponse[];
  weights?: Record<string, number>;
}

export interface SuiteTest {
  name: string;
  description: string;
  manifests: string[] | null;
  features: string[];
  provisional: boolean;
  runs: SuiteRun[] | null;
  error?: string;
}

export function conformanceDir(): string {
  const dir = process.env["WAYMARK_GWAPI_CONFORMANCE"];
  if (!dir)
    throw new Error('WAYMARK_GWAPI_CONFORMANCE is not set: run `eval "$(scripts/bootstrap-conformance.sh)"`');
  return dir;
}

/** The mesh tests of the conformance module, read from its Go sources. */
export function loadMeshTests(dir = conformanceDir()): SuiteTest[] {
  const out = execFileSync("go", ["run", ".", dir], {
    cwd: join(root, "test", "conformance", "extract"),
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  return JSON.parse(out) as SuiteTest[];
}
