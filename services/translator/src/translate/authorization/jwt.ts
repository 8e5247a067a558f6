// RequestAuthentication → Envoy jwt_authn (design note §5). First version: the signature of the
// contract only; the providers, requirement and JWKS clusters follow.
import type { JwtAuthnBuild, JwtAuthnBuilder } from "./contract.ts";

export const jwtAuthnFilter: JwtAuthnBuilder = (_policies): JwtAuthnBuild => {
  return { clusters: [], problems: [] };
};
