// The browser bundle's entry (esbuild --format=iife --global-name=SessiondClient).
export { createSessiondClient, SessiondClient, SessiondError, TERMINAL_REFRESH_CODES } from "./index";
export type { Events, Options, ProblemCode, SignedOutReason, Stats } from "./index";
