// Every GatewayExtension type Waymark programs. Adding one: its reader (an ExtensionKind, in the
// folder of the feature that uses it) and one entry here. A type not listed is accepted by the CRD
// but reported on the extension as not supported yet.

import { extAuthExtension } from "../ext-auth/extension.ts";
import { extProcExtension } from "../ext-proc/extension.ts";
import { jwtExtension } from "../jwt-auth/extension.ts";
import { oauth2Extension } from "../oauth2/extension.ts";
import { rateLimitExtension } from "../rate-limit-global/extension.ts";
import type { ExtensionKind } from "./kind.ts";

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each type reads its own value
export const EXTENSION_KINDS: ReadonlyArray<ExtensionKind<any>> = [
  jwtExtension,
  extAuthExtension,
  rateLimitExtension,
  extProcExtension,
  oauth2Extension,
];

/** kgateway's GatewayExtension types and the spec field each uses (the CRD's own list). */
export const KGATEWAY_EXTENSION_FIELDS: Readonly<Record<string, string>> = {
  ExtAuth: "extAuth",
  ExtProc: "extProc",
  RateLimit: "rateLimit",
  JWT: "jwt",
  OAuth2: "oauth2",
};
