// The IIFE bundle of the browser test page (esbuild --format=iife --global-name=SessiondClient).
export { createSessiondClient, SessiondClient, SessiondError, TERMINAL_REFRESH_CODES } from "./index.js";
export type { Events, MfaAnswer, MfaChallenge, Options, ProblemCode, SignInResult, SignedOutReason, Stats, Warning } from "./index.js";
