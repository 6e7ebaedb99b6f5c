/** Bearer-token authentication shared by the OTLP/HTTP and OTLP/gRPC receivers. */

export type { AuthConfig, AuthConfigInput, AuthIdentity, AuthResult, BearerAuthenticator } from './bearer-auth.ts';
export {
  AuthConfigSchema,
  BearerTokenSchema,
  createBearerAuthenticator,
  generateToken,
  hashToken,
  parseAuthConfig,
} from './bearer-auth.ts';
