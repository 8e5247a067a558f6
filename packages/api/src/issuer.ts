/** The key of the Kubernetes service-account issuer's entry in the wm-issuer bucket. */
export const ISSUER_KEY = "kubernetes";

/**
 * The service-account token issuer and its public keys, as the API server publishes them
 * (`/.well-known/openid-configuration` and `/openid/v1/jwks`). The watcher writes it; the xds-server
 * verifies proxy tokens with it, so it needs no Kubernetes credentials of its own.
 */
export interface IssuerKeys {
  /** The `issuer` of the discovery document: the `iss` of every token it signs. */
  issuer: string;
  /** The JSON Web Key Set: public keys only (RSA or EC), each with its `kid`. */
  jwks: { keys: JsonWebKeyEntry[] };
  /** When the watcher read them (ISO 8601). */
  fetchedAt: string;
  /** Where they were read from (the API server URL). */
  source: string;
}

export interface JsonWebKeyEntry {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  [field: string]: unknown;
}
