// GatewayExtensions as the features and the status see them: each extension read once per
// translation by its type's reader (registry.ts), its own status from that reading, and a policy's
// reference to one resolved with the errors a user of the policy can act on.
import type { GatewayExtension } from "@waymark/api";
import { isRecord, str } from "../../input/guards.ts";
import { nsName, type ObjectIndex } from "../../input/objects.ts";
import { ISTIO_NETWORKING_GROUP } from "../../input/serviceentry.ts";
import { resolveBackend } from "../../routes/backends.ts";
import { condition } from "../../status/status.ts";
import type { ObjectStatus, TranslatorSettings } from "../../types.ts";
import { type FeatureRead, type FieldError, formatFieldError } from "../feature.ts";
import type { ExtensionContext, ExtensionKind } from "./kind.ts";
import { EXTENSION_KINDS, KGATEWAY_EXTENSION_FIELDS } from "./registry.ts";

/** An extension as read: its type (when it can be told) and its value, or why it cannot be used. */
type Reading =
  | { ok: true; type: string; value: unknown }
  | {
      ok: false;
      type: string | undefined;
      reason: "Invalid" | "BackendNotFound" | "Unsupported";
      errors: string[];
    };

/** Same-namespace backend resolution, shared with FeatureContext.backend. */
export function sameNamespaceBackend(
  ref: unknown,
  namespace: string,
  index: ObjectIndex,
): ReturnType<ExtensionContext["backend"]> {
  const other = isRecord(ref) ? str(ref.namespace) : undefined;
  if (other !== undefined && other !== namespace)
    return {
      ok: false,
      message: `backendRef namespace ${other}: only Services of the same namespace (${namespace}) can be called; remove the namespace or move the Service`,
    };
  // An extension (an auth, processing or rate limit server) is a Service: ServiceEntry backends are
  // for routes only.
  const kind = isRecord(ref) ? str(ref.kind) : undefined;
  if (isRecord(ref) && str(ref.group) === ISTIO_NETWORKING_GROUP)
    return {
      ok: false,
      message: `backendRef ${str(ref.name) ?? ""}: kind ${kind ?? ""}.${ISTIO_NETWORKING_GROUP} is not supported (only core Services are)`,
    };
  const r = resolveBackend(ref, namespace, index);
  return r.ok ? { ok: true, target: r.target } : { ok: false, message: r.message };
}

/** One translation's GatewayExtensions, each read at most once. */
export class Extensions {
  readonly #readings = new Map<string, Reading>();
  readonly #index: ObjectIndex;
  readonly #settings: TranslatorSettings;
  constructor(index: ObjectIndex, settings: TranslatorSettings) {
    this.#index = index;
    this.#settings = settings;
  }

  #read(ext: GatewayExtension): Reading {
    const key = nsName(ext.metadata.namespace ?? "", ext.metadata.name);
    const seen = this.#readings.get(key);
    if (seen) return seen;
    const r = this.#readOnce(ext);
    this.#readings.set(key, r);
    return r;
  }

  #readOnce(ext: GatewayExtension): Reading {
    const spec = isRecord(ext.spec) ? ext.spec : {};
    const type = str(spec.type);
    const set = Object.entries(KGATEWAY_EXTENSION_FIELDS).filter(([, f]) => spec[f] !== undefined);
    if (set.length !== 1)
      return {
        ok: false,
        type,
        reason: "Invalid",
        errors: [`set exactly one of ${Object.values(KGATEWAY_EXTENSION_FIELDS).join(", ")}`],
      };
    const [fieldType, field] = set[0]!;
    if (type !== undefined && type !== fieldType)
      return {
        ok: false,
        type,
        reason: "Invalid",
        errors: [
          `type: ${type} needs spec.${KGATEWAY_EXTENSION_FIELDS[type] ?? "?"}, but spec.${field} is set`,
        ],
      };
    const kind = EXTENSION_KINDS.find((k) => k.type === fieldType);
    if (!kind)
      return {
        ok: false,
        type: fieldType,
        reason: "Unsupported",
        errors: [`type ${fieldType} is not supported by Waymark yet: nothing is programmed for it`],
      };
    const namespace = ext.metadata.namespace ?? "";
    let backendMissing = false;
    const ctx: ExtensionContext = {
      settings: this.#settings,
      namespace,
      secret: (name) => this.#index.secrets.get(nsName(namespace, name)),
      backend: (ref) => {
        const b = sameNamespaceBackend(ref, namespace, this.#index);
        if (!b.ok) backendMissing = true;
        return b;
      },
    };
    const r = kind.read(spec[field], ctx);
    if (r.ok) return { ok: true, type: fieldType, value: r.value };
    return {
      ok: false,
      type: fieldType,
      reason: backendMissing ? "BackendNotFound" : "Invalid",
      errors: r.errors.map((e: FieldError) => formatFieldError(e)),
    };
  }

  /**
   * A policy's reference (`path` is where it sits in the policy, e.g. `jwtAuth.extensionRef`) to an
   * extension of `kind` in the policy's namespace: its value, or errors saying what to fix.
   */
  resolve<V>(
    kind: ExtensionKind<V>,
    ref: unknown,
    path: string,
    namespace: string,
  ): FeatureRead<{ name: string; value: V }> {
    const fail = (message: string, subject?: string): FeatureRead<{ name: string; value: V }> => ({
      ok: false,
      errors: [subject === undefined ? { path, message } : { path, subject, message }],
    });
    if (!isRecord(ref)) return fail(`must name a GatewayExtension of type ${kind.type}`);
    const name = str(ref.name) ?? "";
    if (name === "")
      return { ok: false, errors: [{ path: `${path}.name`, message: "needs the GatewayExtension's name" }] };
    const other = str(ref.namespace);
    if (other !== undefined && other !== namespace)
      return {
        ok: false,
        errors: [
          {
            path: `${path}.namespace`,
            subject: other,
            message: `a policy may only use GatewayExtensions of its own namespace (${namespace})`,
          },
        ],
      };
    const label = `GatewayExtension ${nsName(namespace, name)}`;
    const ext = this.#index.gatewayExtensions.get(nsName(namespace, name));
    if (!ext) return fail(`${label} not found; create it or fix the name`);
    const r = this.#read(ext);
    if (r.type !== undefined && r.type !== kind.type)
      return fail(`${label} is of type ${r.type}, not ${kind.type}; name an extension of type ${kind.type}`);
    if (r.ok) return { ok: true, value: { name, value: r.value as V } };
    return fail(`${label} is not valid (see its status): ${r.errors.join("; ")}`);
  }

  /**
   * Every usable GatewayExtension of `kind` in `namespace`, by `<namespace>/<name>` (sorted), with its
   * value: a feature with one filter per extension keeps them all in the waypoint's listener, so that
   * moving a route from one to another changes route tables only (see ext-auth/index.ts).
   */
  usable<V>(kind: ExtensionKind<V>, namespace: string): Array<{ name: string; value: V }> {
    const out: Array<{ name: string; value: V }> = [];
    for (const ext of this.#index.gatewayExtensions.values()) {
      if ((ext.metadata.namespace ?? "") !== namespace) continue;
      const r = this.#read(ext);
      if (r.ok && r.type === kind.type)
        out.push({ name: nsName(namespace, ext.metadata.name), value: r.value as V });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The status of every GatewayExtension: Accepted, or why not. */
  statuses(): ObjectStatus[] {
    const out: ObjectStatus[] = [];
    for (const ext of [...this.#index.gatewayExtensions.values()]) {
      const r = this.#read(ext);
      const g = ext.metadata.generation;
      const c = r.ok
        ? condition("Accepted", true, "Accepted", `${r.type} extension accepted`, g)
        : condition("Accepted", false, r.reason, r.errors.join("; "), g);
      out.push({
        ref: {
          group: "gateway.kgateway.dev",
          kind: "GatewayExtension",
          namespace: ext.metadata.namespace ?? "",
          name: ext.metadata.name,
        },
        ...(g === undefined ? {} : { generation: g }),
        status: { conditions: [c] },
      });
    }
    return out;
  }
}
