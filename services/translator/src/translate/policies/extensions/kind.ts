// The contract of one GatewayExtension type (kgateway's `spec.type`: JWT, ExtAuth, ExtProc, RateLimit,
// OAuth2), registered by one entry in registry.ts. A type reads its part of the extension's spec (the
// field named like the type: spec.jwt, spec.extAuth, …) into a value the features that use it program;
// every error names the path below spec it is about. The same reading gives the extension's own status
// (Accepted, or why not) and the status of each policy that names it, so the two always agree.

import type { Secret } from "@waymark/api";
import type { BackendTarget } from "../../routes/backends.ts";
import type { TranslatorSettings } from "../../types.ts";
import type { FeatureRead } from "../feature.ts";

/** What an extension type's reader may look at: the extension's own namespace only. */
export interface ExtensionContext {
  settings: TranslatorSettings;
  namespace: string;
  /** A Secret of the extension's namespace (never put its values into an error). */
  secret(name: string): Secret | undefined;
  /** A backendRef (a port of a Service of the extension's namespace) as a backend, or why not. */
  backend(ref: unknown): { ok: true; target: BackendTarget } | { ok: false; message: string };
}

export interface ExtensionKind<V> {
  /** kgateway's spec.type value. */
  type: string;
  /** The spec field holding this type's settings (jwt, extAuth, extProc, rateLimit, oauth2). */
  field: string;
  /**
   * Reads spec[field]. Error paths are below the extension's spec (`jwt.providers[0].issuer`); an
   * error caused by a missing backend says so in its message (the status reason is BackendNotFound).
   */
  read(value: unknown, ctx: ExtensionContext): FeatureRead<V>;
  /** Whether two values program the same thing (an edited extension reads as a change otherwise). */
  equal(a: V, b: V): boolean;
}
