// Every policy feature, in the order their filters are emitted within one slot and their per-filter
// config is merged. Adding a feature: a folder beside transformation/ and one entry here.
import { aclFeature } from "./acl/index.ts";
import { apiKeyAuthFeature } from "./api-key-auth/index.ts";
import { autoHostRewriteFeature } from "./auto-host-rewrite/index.ts";
import { basicAuthFeature } from "./basic-auth/index.ts";
import { bufferFeature } from "./buffer/index.ts";
import { compressionFeature } from "./compression/index.ts";
import { corsFeature } from "./cors/index.ts";
import { csrfFeature } from "./csrf/index.ts";
import { extAuthFeature } from "./ext-auth/index.ts";
import { extProcFeature } from "./ext-proc/index.ts";
import { faultInjectionFeature } from "./fault-injection/index.ts";
import type { PolicyFeature } from "./feature.ts";
import { headerModifiersFeature } from "./header-modifiers/index.ts";
import { internalRedirectFeature } from "./internal-redirect/index.ts";
import { jwtAuthFeature } from "./jwt-auth/index.ts";
import { localRateLimitFeature } from "./local-rate-limit/index.ts";
import { oauth2Feature } from "./oauth2/index.ts";
import { globalRateLimitFeature } from "./rate-limit-global/index.ts";
import { rbacFeature } from "./rbac/index.ts";
import { retryFeature } from "./retry/index.ts";
import { statPrefixFeature } from "./stat-prefix/index.ts";
import { timeoutsFeature } from "./timeouts/index.ts";
import { tracingFeature } from "./tracing/index.ts";
import { transformationFeature } from "./transformation/index.ts";
import { urlRewriteFeature } from "./url-rewrite/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each feature reads its own value
export const FEATURES: ReadonlyArray<PolicyFeature<any>> = [
  // Filters, in the order of their slots (ir/filter-order.ts).
  corsFeature,
  csrfFeature,
  faultInjectionFeature,
  compressionFeature,
  bufferFeature,
  oauth2Feature, // fails closed
  basicAuthFeature, // fails closed
  apiKeyAuthFeature, // fails closed
  jwtAuthFeature, // fails closed
  extAuthFeature, // fails closed
  aclFeature, // fails closed
  rbacFeature, // fails closed
  localRateLimitFeature,
  globalRateLimitFeature,
  extProcFeature, // fails closed
  headerModifiersFeature,
  transformationFeature,
  // Route edits (no filter): route action and route entry fields.
  urlRewriteFeature,
  autoHostRewriteFeature,
  timeoutsFeature,
  retryFeature,
  internalRedirectFeature,
  tracingFeature,
  statPrefixFeature,
];
