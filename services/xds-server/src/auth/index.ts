export { type AuthenticatorOptions, TokenAuthenticator } from "./authenticator.ts";
export { identityOf, type ProxyIdentity, refusal } from "./identity.ts";
export { keysFromJwks, TokenError, type TokenProblem, type VerifyKey, verifyJwt } from "./jwt.ts";
export { type IssuerKeySet, type KeySource, NatsKeySource, staticKeys } from "./keys.ts";
