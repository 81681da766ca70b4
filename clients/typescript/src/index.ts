// @sessiond/client: sessiond's browser client, on openapi-fetch and the
// types openapi-typescript generates from openapi.yaml (./generated/schema).
//
// * Sign-in asks for `X-Session-Transport: cookie`: the refresh token lives
//   only in the HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth, the
//   access token only in memory.
// * CSRF without reading cookies. The sign-in and refresh answers carry
//   `csrf_token`; the client keeps it in memory (and gives it to its other
//   tabs over the BroadcastChannel) and sends it in `X-CSRF-Token` on
//   cookie-borne refresh and logout. A page that lost it (a reload with no
//   other tab open) asks `GET /api/v1/auth/csrf`, which only the API's own
//   origin and its ALLOWED_ORIGINS can read. This works whether the page is
//   on the API's origin, on a sibling subdomain, or on another port, and
//   with the `__Host-` cookie the server sets in production.
// * Silent refresh shortly before the access token expires, and on a
//   `401 invalid_token` (the request is then retried once).
// * One refresh in flight per tab (a single-flight promise) and one across
//   the tabs of an origin: the Web Locks API serialises them (a request that
//   waits longer than `lockTimeoutMs` steals the lock, so a hung holder
//   cannot deadlock the others); the new access token is shared over a
//   BroadcastChannel, and a non-secret marker in localStorage (the new
//   token's expiry, never a token) tells a tab that gets the lock after
//   another one refreshed to take the token from its peers instead of
//   rotating again.
// * Degrades, never crashes: without Web Locks or BroadcastChannel
//   (insecure context, old browser) the client runs single-tab and emits a
//   `warning` event (or, with `multiTab: "required"`, refuses at
//   construction with a typed error). Every failure reaching the caller is
//   a `SessiondError` typed by the spec's `ProblemCode`: a refused or
//   failed fetch is `network_error`, never a raw TypeError.

import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

export type { components, paths } from "./generated/schema.js";
export type ProblemCode = components["schemas"]["ProblemCode"];
export type Problem = components["schemas"]["Problem"];
export type User = components["schemas"]["User"];
export type TokenResponse = components["schemas"]["TokenResponse"];
/** A sign-in that needs a second factor: answer it with verifyMfa(). */
export type MfaChallenge = components["schemas"]["MfaChallenge"];
/**
 * What signIn() resolves to: the session's tokens (`kind: "tokens"`), or a
 * second-factor challenge (`kind: "mfa"`, the server's 202) to answer with
 * verifyMfa() before the session exists.
 */
export type SignInResult = ({ kind: "tokens" } & TokenResponse) | { kind: "mfa"; challenge: MfaChallenge };
/** The answer to a challenge: the authenticator's code, or one recovery code. */
export type MfaAnswer = { code: string; recoveryCode?: never } | { recoveryCode: string; code?: never };
export type Api = Client<paths>;

/** Refresh answers after which the session cannot continue. */
export const TERMINAL_REFRESH_CODES: readonly ProblemCode[] = [
  "invalid_refresh_token",
  "refresh_token_reused",
  "session_expired_idle",
  "session_expired_absolute",
];

/** Codes of failures that are the client's own, not the server's. */
export type ClientErrorCode = "network_error" | "signed_out" | "unsupported_environment" | "invalid_options";

/** Every failure the client reports: an API problem typed by the spec's ProblemCode, or one of the client's own codes. */
export class SessiondError extends Error {
  constructor(
    readonly status: number,
    readonly code: ProblemCode | ClientErrorCode,
    readonly problem?: Problem,
    options?: { cause?: unknown; message?: string },
  ) {
    super(options?.message ?? problem?.detail ?? `${status} ${code}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SessiondError";
  }
}

export interface Options {
  /** The API's origin, e.g. https://api.example.com (one base URL for every operation; the same origin as the page is fine). */
  baseUrl: string;
  /** Refresh this long before the access token expires (capped at a quarter of its lifetime). Default 30 s. */
  refreshLeewayMs?: number;
  /**
   * Refresh proactively (default true): on a timer shortly before the access
   * token expires, and before a request that would carry a token about to
   * expire. Off, only a 401 invalid_token triggers a refresh.
   */
  proactive?: boolean;
  /** How long to wait for another tab's refresh before stealing the lock. Default 10 s. */
  lockTimeoutMs?: number;
  /** How long to wait for a peer tab to hand over its token. Default 1 s. */
  peerTimeoutMs?: number;
  /** Namespace of the lock, channel and marker. Default derived from baseUrl. */
  name?: string;
  /**
   * What to do where Web Locks or BroadcastChannel is missing (an insecure
   * context, an old browser). "auto" (default): run single-tab and emit a
   * `warning` (code `single_tab`). "required": throw a SessiondError with
   * code `unsupported_environment` from the constructor.
   */
  multiTab?: "auto" | "required";
  /** The fetch to use (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
}

export type SignedOutReason = ProblemCode | "logout" | "logout_all";

export interface Warning {
  /** `single_tab`: no cross-tab coordination here; `refresh_failed`: a background refresh failed (the next request retries). */
  code: "single_tab" | "refresh_failed";
  message: string;
  error?: SessiondError;
}

export interface Events {
  "signed-in": { sessionId: string; source: "sign-in" | "refresh" | "peer" };
  "signed-out": { reason: SignedOutReason; remote: boolean };
  token: { expiresAt: number; source: "sign-in" | "refresh" | "peer" };
  warning: Warning;
}

type Message =
  | { type: "token"; token: string; exp: number; sessionId: string; csrf: string | null }
  | { type: "want-token" }
  | { type: "signed-out"; reason: SignedOutReason };

interface Held {
  value: string;
  exp: number; // ms since epoch
  lifetime: number; // ms
  sessionId: string;
}

/** Counters the tests read; harmless in production. */
export interface Stats {
  networkRefreshes: number;
  peerTokens: number;
  steals: number;
  retries: number;
  reused: number;
  csrfFetches: number;
}

/** How long a tab keeps the refresh lock after rotating (see holding()). */
const SETTLE_MS = 60;

const PUBLIC_PATHS = new Set([
  "/api/v1/auth/register",
  "/api/v1/auth/login/json",
  "/api/v1/auth/login",
  "/api/v1/auth/mfa/verify",
  "/api/v1/auth/refresh",
  "/api/v1/auth/csrf",
  "/api/v1/auth/password-reset/request",
  "/api/v1/auth/password-reset/confirm",
  "/api/v1/auth/verify-email",
  "/api/v1/auth/verify-email/resend",
  "/api/v1/auth/invitations/accept",
  "/.well-known/jwks.json",
  "/healthz",
  "/readyz",
  "/openapi.yaml",
]);

async function problemOf(r: Response): Promise<Problem | undefined> {
  if (!(r.headers.get("content-type") ?? "").includes("json")) return undefined;
  try {
    return (await r.clone().json()) as Problem;
  } catch {
    return undefined;
  }
}

function networkError(cause: unknown): SessiondError {
  if (cause instanceof SessiondError) return cause;
  return new SessiondError(0, "network_error", undefined, {
    cause,
    message: "the API could not be reached or the browser refused its answer (network, CORS: is this page's origin in the server's ALLOWED_ORIGINS?)",
  });
}

interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal; steal?: boolean }, cb: () => Promise<T>): Promise<T>;
}

/** What this browser offers for cross-tab coordination. */
function environment(): { locks: LockManagerLike | null; channel: typeof BroadcastChannel | null; storage: Storage | null } {
  const g = globalThis as { navigator?: { locks?: LockManagerLike }; BroadcastChannel?: typeof BroadcastChannel; localStorage?: Storage };
  let storage: Storage | null = null;
  try {
    storage = g.localStorage ?? null; // throws where storage is blocked
  } catch {
    storage = null;
  }
  return {
    locks: g.navigator?.locks && typeof g.navigator.locks.request === "function" ? g.navigator.locks : null,
    channel: typeof g.BroadcastChannel === "function" ? g.BroadcastChannel : null,
    storage,
  };
}

export class SessiondClient {
  /** Typed API client: adds the access token, refreshes and retries once on 401 invalid_token. */
  readonly api: Api;
  /** Typed API client without authentication (cookies included). */
  readonly raw: Api;
  readonly stats: Stats = { networkRefreshes: 0, peerTokens: 0, steals: 0, retries: 0, reused: 0, csrfFetches: 0 };
  /** "multi-tab" when Web Locks and BroadcastChannel are there; else "single-tab" (see the `warning` event). */
  readonly mode: "multi-tab" | "single-tab";
  /** The Web Lock every tab of the origin refreshes under. */
  readonly lockName: string;

  private token: Held | null = null;
  private csrf: string | null = null;
  private inflight: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners: { [K in keyof Events]: Set<(e: Events[K]) => void> } = {
    "signed-in": new Set(),
    "signed-out": new Set(),
    token: new Set(),
    warning: new Set(),
  };
  private readonly warnings: Warning[] = [];
  private readonly channel: BroadcastChannel | null = null;
  private readonly locks: LockManagerLike | null;
  private readonly storage: Storage | null;
  private readonly markerKey: string;
  private readonly opt: Required<Omit<Options, "name" | "fetch" | "multiTab">>;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly retryCopies = new Map<string, Request>();

  constructor(options: Options) {
    if (!options || typeof options.baseUrl !== "string" || !/^https?:\/\//i.test(options.baseUrl)) {
      throw new SessiondError(0, "invalid_options", undefined, { message: "baseUrl must be the API's origin, e.g. https://api.example.com" });
    }
    this.opt = {
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      refreshLeewayMs: options.refreshLeewayMs ?? 30_000,
      proactive: options.proactive ?? true,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      peerTimeoutMs: options.peerTimeoutMs ?? 1_000,
    };
    const f = options.fetch ?? (globalThis as { fetch?: typeof globalThis.fetch }).fetch;
    if (typeof f !== "function") {
      throw new SessiondError(0, "unsupported_environment", undefined, { message: "no fetch in this environment; pass options.fetch" });
    }
    this.fetchImpl = (input, init) => f(input, init);
    const name = options.name ?? `sessiond:${this.opt.baseUrl}`;
    this.lockName = `${name}:refresh`;
    this.markerKey = `${name}:refreshed`;

    const env = environment();
    const missing = [...(env.locks ? [] : ["Web Locks (navigator.locks)"]), ...(env.channel ? [] : ["BroadcastChannel"])];
    if (missing.length > 0 && options.multiTab === "required") {
      throw new SessiondError(0, "unsupported_environment", undefined, {
        message: `${missing.join(" and ")} unavailable (an insecure context or an old browser): the client cannot coordinate tabs`,
      });
    }
    this.mode = missing.length === 0 ? "multi-tab" : "single-tab";
    this.locks = this.mode === "multi-tab" ? env.locks : null;
    this.storage = this.mode === "multi-tab" ? env.storage : null;
    if (this.mode === "multi-tab" && env.channel) {
      try {
        this.channel = new env.channel(name);
        this.channel.onmessage = (e: MessageEvent<Message>) => this.onMessage(e.data);
      } catch {
        this.channel = null;
      }
    }
    if (missing.length > 0) {
      this.warn({
        code: "single_tab",
        message: `${missing.join(" and ")} unavailable (an insecure context or an old browser): each tab refreshes on its own; the server's grace window keeps concurrent refreshes from signing anyone out`,
      });
    }
    const clientOptions = { baseUrl: this.opt.baseUrl, credentials: "include" as const, fetch: this.fetchImpl };
    this.raw = createClient<paths>(clientOptions);
    this.api = createClient<paths>(clientOptions);
    this.api.use(this.middleware());
  }

  /** Subscribes to an event; returns the unsubscribe function. Warnings raised before subscribing are delivered too. */
  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    this.listeners[event].add(fn);
    if (event === "warning" && this.warnings.length > 0) {
      const past = [...this.warnings] as Events[K][];
      queueMicrotask(() => {
        if (this.listeners[event].has(fn)) for (const w of past) fn(w);
      });
    }
    return () => {
      this.listeners[event].delete(fn);
    };
  }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const fn of [...this.listeners[event]]) {
      try {
        fn(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err; // a listener's bug surfaces as an uncaught error, not in the client's flow
        });
      }
    }
  }

  private warn(w: Warning): void {
    if (w.code === "single_tab") this.warnings.push(w);
    this.emit("warning", w);
  }

  get signedIn(): boolean {
    return this.token !== null;
  }

  get accessToken(): string | null {
    return this.token?.value ?? null;
  }

  /** When the access token expires (ms since the epoch), or null. */
  get expiresAt(): number | null {
    return this.token?.exp ?? null;
  }

  /** Wraps an openapi-fetch call: a thrown fetch failure becomes a SessiondError network_error. */
  private async call<T>(p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (err) {
      throw networkError(err);
    }
  }

  /**
   * Signs in with the cookie transport. Resolves to the tokens, or, for a
   * user with a second factor, to `{ kind: "mfa", challenge }`: no session
   * yet, answer it with verifyMfa(). Throws SessiondError (e.g.
   * invalid_credentials).
   */
  async signIn(email: string, password: string, deviceId?: string): Promise<SignInResult> {
    const header: { "X-Session-Transport": "cookie"; "X-Device-Id"?: string } = { "X-Session-Transport": "cookie" };
    if (deviceId) header["X-Device-Id"] = deviceId;
    const r = await this.call(() => this.raw.POST("/api/v1/auth/login/json", { body: { email, password }, params: { header } }));
    if (!r.data) throw new SessiondError(r.response.status, r.error?.code ?? "network_error", r.error);
    if (r.response.status === 202 && "mfa_challenge_token" in r.data) return { kind: "mfa", challenge: r.data };
    return { kind: "tokens", ...this.signedInWith(r.data as TokenResponse) };
  }

  /**
   * Answers a sign-in's second-factor challenge with a TOTP code or a
   * recovery code; the session then starts as with signIn(). Throws
   * SessiondError: invalid_mfa_code (try again), invalid_mfa_challenge
   * (expired, used or spent: sign in again), rate_limited.
   */
  async verifyMfa(challenge: MfaChallenge | string, answer: MfaAnswer, deviceId?: string): Promise<TokenResponse> {
    const token = typeof challenge === "string" ? challenge : challenge.mfa_challenge_token;
    const header: { "X-Session-Transport": "cookie"; "X-Device-Id"?: string } = { "X-Session-Transport": "cookie" };
    if (deviceId) header["X-Device-Id"] = deviceId;
    const body = answer.code !== undefined ? { mfa_challenge_token: token, code: answer.code } : { mfa_challenge_token: token, recovery_code: answer.recoveryCode };
    const r = await this.call(() => this.raw.POST("/api/v1/auth/mfa/verify", { body, params: { header } }));
    if (!r.data) throw new SessiondError(r.response.status, r.error?.code ?? "network_error", r.error);
    return this.signedInWith(r.data);
  }

  private signedInWith(t: TokenResponse): TokenResponse {
    const held = this.accept(t, "sign-in");
    this.post({ type: "token", token: held.value, exp: held.exp, sessionId: held.sessionId, csrf: this.csrf });
    return t;
  }

  /**
   * Proves the user's identity again (password, and the TOTP code when a
   * second factor is enrolled), so that changes needing a recent
   * authentication (403 reauthentication_required) go through. The session
   * continues with the fresh access token (its auth_time is now). Throws
   * SessiondError: invalid_credentials, invalid_mfa_code, rate_limited.
   */
  async reauthenticate(password: string, code?: string): Promise<void> {
    const body = code === undefined ? { password } : { password, code };
    const r = await this.call(() => this.api.POST("/api/v1/auth/reauthenticate", { body }));
    if (!r.data) throw this.errorOf(r.response, r.error);
    const sessionId = this.token?.sessionId;
    if (!sessionId) return;
    const lifetime = r.data.expires_in * 1000;
    const held = this.hold({ value: r.data.access_token, exp: Date.now() + lifetime, lifetime, sessionId }, "sign-in");
    this.post({ type: "token", token: held.value, exp: held.exp, sessionId: held.sessionId, csrf: this.csrf });
  }

  /**
   * Joins the session on page load: takes the token from a peer tab, else
   * refreshes with the cookie. Resolves false when there is no session.
   * Throws SessiondError only when the API cannot be reached.
   */
  async restore(): Promise<boolean> {
    if (this.token && !this.due(this.token)) return true;
    if (await this.askPeers(0)) return true;
    return (await this.refresh(null)) !== null;
  }

  /** The caller's profile. */
  async me(): Promise<User> {
    const r = await this.call(() => this.api.GET("/api/v1/auth/me"));
    if (!r.data) throw this.errorOf(r.response, r.error);
    return r.data;
  }

  /**
   * Ends this session on the server, then signs every tab out. Works from
   * any local state (no access token, an expired one, a lost CSRF token) as
   * long as the browser holds the session's cookie: it refreshes or fetches
   * what it lacks first. Rejects with a SessiondError when the server
   * session may still be live (network failure, refused); resolves when it
   * has ended or there was none.
   */
  async logout(): Promise<void> {
    const t = this.token;
    if (!t || this.due(t)) {
      // No usable access token: get one with the cookie (which also proves
      // there is a session to end). null: the session is already over.
      if ((await this.refresh(t?.value ?? null)) === null) {
        this.signOut("logout", false);
        return;
      }
    }
    const csrf = this.csrf ?? (await this.fetchCsrf());
    const r = await this.call(() => this.api.POST("/api/v1/auth/logout", { params: { header: csrf ? { "X-CSRF-Token": csrf } : {} } }));
    if (r.response.status === 204) {
      this.signOut("logout", false, true);
      return;
    }
    if (r.response.status === 401 && this.token === null) {
      // The middleware's refresh found the session over: already signed out.
      return;
    }
    throw this.errorOf(r.response, r.error);
  }

  /** Ends every session of the user, on every device (every tab signs out). */
  async logoutAll(): Promise<number> {
    const r = await this.call(() => this.api.POST("/api/v1/auth/logout-all"));
    if (!r.data) throw this.errorOf(r.response, r.error);
    this.signOut("logout_all", false, true);
    return r.data.revoked_count;
  }

  /**
   * Refreshes once for every caller in this tab and once across the tabs of
   * the origin. `stale` is the access token the caller found wanting (null:
   * none); if a newer one is already here, no refresh happens. Resolves to
   * the access token, or null when there is no session (any more).
   */
  refresh(stale: string | null = this.token?.value ?? null): Promise<string | null> {
    if (this.inflight) return this.inflight;
    this.inflight = this.refreshAcrossTabs(stale).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async refreshAcrossTabs(stale: string | null): Promise<string | null> {
    const underLock = async (): Promise<string | null> => {
      // A newer token arrived while this tab waited (another tab refreshed).
      if (this.token && this.token.value !== stale && !this.due(this.token)) return this.token.value;
      // Another tab refreshed but its message has not arrived yet: the
      // marker says so; take the token from the peers instead of rotating.
      const marker = this.readMarker();
      if (marker !== null && marker > (this.token?.exp ?? 0) && marker - Date.now() > this.leeway(this.token)) {
        const t = await this.askPeers(marker);
        if (t) return t;
      }
      return this.refreshOverNetwork();
    };
    const locks = this.locks;
    if (!locks) return underLock(); // single-tab: the in-tab promise is the single flight
    try {
      return await this.holding(locks, { signal: AbortSignal.timeout(this.opt.lockTimeoutMs) }, underLock);
    } catch (err) {
      if (err instanceof SessiondError) throw err;
      if (!(err instanceof DOMException) || (err.name !== "TimeoutError" && err.name !== "AbortError")) throw networkError(err);
      // The holder has not let go in time (hung, or frozen mid-refresh):
      // take the lock from it. Should it still finish, the server's grace
      // window makes both answers converge on one token pair.
      this.stats.steals++;
      return await this.holding(locks, { steal: true }, underLock);
    }
  }

  /**
   * Runs fn under the lock and answers as soon as fn does, but keeps the
   * lock a little longer after a network refresh: the new token's message
   * (BroadcastChannel) and the lock grant reach a waiting tab over
   * different channels, and the settle time lets the message arrive first,
   * so the waiting tab finds the new token instead of rotating again.
   */
  private holding(locks: LockManagerLike, options: { signal?: AbortSignal; steal?: boolean }, fn: () => Promise<string | null>): Promise<string | null> {
    return new Promise((resolve, reject) => {
      locks
        .request(this.lockName, options, async () => {
          const before = this.stats.networkRefreshes;
          const v = await fn();
          resolve(v);
          if (this.stats.networkRefreshes !== before) await new Promise((r) => setTimeout(r, SETTLE_MS));
          return v;
        })
        .catch(reject);
    });
  }

  /**
   * The session's CSRF token from the server, for a tab that has none in
   * memory; null when the browser holds no session cookie.
   */
  private async fetchCsrf(): Promise<string | null> {
    this.stats.csrfFetches++;
    const r = await this.call(() => this.raw.GET("/api/v1/auth/csrf"));
    if (r.data) {
      this.csrf = r.data.csrf_token;
      return this.csrf;
    }
    if (r.response.status === 401) return null;
    throw this.errorOf(r.response, r.error);
  }

  private async refreshOverNetwork(): Promise<string | null> {
    let csrf = this.csrf;
    let fromMemory = csrf !== null;
    if (!csrf) csrf = await this.fetchCsrf();
    if (!csrf) {
      this.signOut("invalid_refresh_token", false);
      return null;
    }
    for (;;) {
      this.stats.networkRefreshes++;
      const token = csrf;
      const r = await this.call(() => this.raw.POST("/api/v1/auth/refresh", { params: { header: { "X-CSRF-Token": token } } }));
      if (r.data) {
        const held = this.accept(r.data, "refresh");
        this.writeMarker(held.exp);
        this.post({ type: "token", token: held.value, exp: held.exp, sessionId: held.sessionId, csrf: this.csrf });
        return held.value;
      }
      const code = r.error?.code;
      if (r.response.status === 403 && code === "csrf_failed" && fromMemory) {
        // The token in memory is stale (a sign-in elsewhere set a new
        // one): ask the server once for the current one.
        fromMemory = false;
        const fresh = await this.fetchCsrf();
        if (!fresh) {
          this.signOut("invalid_refresh_token", false);
          return null;
        }
        csrf = fresh;
        continue;
      }
      if (code === "refresh_token_reused") this.stats.reused++;
      if (r.response.status === 401 && code !== undefined && TERMINAL_REFRESH_CODES.includes(code)) {
        this.signOut(code, false);
        return null;
      }
      throw this.errorOf(r.response, r.error);
    }
  }

  private accept(t: TokenResponse, source: Events["token"]["source"]): Held {
    if (t.csrf_token) this.csrf = t.csrf_token;
    const lifetime = t.expires_in * 1000;
    return this.hold({ value: t.access_token, exp: Date.now() + lifetime, lifetime, sessionId: t.session_id }, source);
  }

  private hold(held: Held, source: Events["token"]["source"]): Held {
    const was = this.token;
    this.token = held;
    this.schedule();
    if (!was || was.sessionId !== held.sessionId) this.emit("signed-in", { sessionId: held.sessionId, source });
    this.emit("token", { expiresAt: held.exp, source });
    return held;
  }

  private leeway(t: Held | null): number {
    return Math.min(this.opt.refreshLeewayMs, (t?.lifetime ?? 0) / 4);
  }

  private due(t: Held): boolean {
    return t.exp - Date.now() <= this.leeway(t);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.opt.proactive || !this.token) return;
    const t = this.token;
    const wait = Math.max(0, t.exp - this.leeway(t) - Date.now());
    this.timer = setTimeout(() => {
      if (this.token !== t) return;
      this.refresh(t.value).catch((err: unknown) => {
        const error = networkError(err);
        this.warn({ code: "refresh_failed", message: `background refresh failed: ${error.message}`, error });
      });
    }, wait);
  }

  /** Drops the local session; `signed-out` is emitted once per signed-in period (or always when `force`). */
  private signOut(reason: SignedOutReason, remote: boolean, force = false): void {
    const was = this.token !== null;
    this.token = null;
    this.csrf = null;
    clearTimeout(this.timer);
    if (!remote && (was || force)) this.post({ type: "signed-out", reason });
    if (was || force) this.emit("signed-out", { reason, remote });
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case "token":
        if (m.csrf) this.csrf = m.csrf;
        if (!this.token || m.exp > this.token.exp) {
          this.stats.peerTokens++;
          this.hold({ value: m.token, exp: m.exp, lifetime: Math.max(1, m.exp - Date.now()), sessionId: m.sessionId }, "peer");
        }
        break;
      case "want-token":
        if (this.token && !this.due(this.token)) {
          this.post({ type: "token", token: this.token.value, exp: this.token.exp, sessionId: this.token.sessionId, csrf: this.csrf });
        }
        break;
      case "signed-out":
        this.signOut(m.reason, true);
        break;
    }
  }

  /** Asks the other tabs for a token expiring at or after minExp (none in single-tab mode). */
  private askPeers(minExp: number): Promise<string | null> {
    if (!this.channel) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (v: string | null) => {
        clearTimeout(timeout);
        off();
        resolve(v);
      };
      const off = this.on("token", () => {
        if (this.token && this.token.exp >= minExp && !this.due(this.token)) done(this.token.value);
      });
      const timeout = setTimeout(() => done(null), this.opt.peerTimeoutMs);
      this.post({ type: "want-token" });
    });
  }

  private post(m: Message): void {
    try {
      this.channel?.postMessage(m);
    } catch {
      // a closed channel: nothing to tell
    }
  }

  private readMarker(): number | null {
    try {
      const v = Number(this.storage?.getItem(this.markerKey));
      return Number.isFinite(v) && v > 0 ? v : null;
    } catch {
      return null;
    }
  }

  private writeMarker(exp: number): void {
    try {
      this.storage?.setItem(this.markerKey, String(exp));
    } catch {
      // storage full or blocked: peers fall back to the lock alone
    }
  }

  private errorOf(r: Response, p: Problem | undefined): SessiondError {
    if (!this.token && r.status === 401) return new SessiondError(401, "signed_out", p);
    return new SessiondError(r.status, p?.code ?? "network_error", p);
  }

  private middleware(): Middleware {
    return {
      onRequest: async ({ request, schemaPath, id }) => {
        if (PUBLIC_PATHS.has(schemaPath)) return undefined;
        let t = this.token;
        if (t && this.opt.proactive && this.due(t)) {
          await this.refresh(t.value);
          t = this.token;
        }
        if (t) request.headers.set("Authorization", `Bearer ${t.value}`);
        this.retryCopies.set(id, request.clone());
        return request;
      },
      onResponse: async ({ request, response, id }) => {
        const copy = this.retryCopies.get(id);
        this.retryCopies.delete(id);
        if (response.status !== 401 || !copy) return undefined;
        const p = await problemOf(response);
        if (p?.code !== "invalid_token") return undefined;
        const sent = (request.headers.get("Authorization") ?? "").replace(/^Bearer /, "") || null;
        const token = await this.refresh(sent);
        if (!token) return undefined; // signed out: the caller sees the 401
        this.stats.retries++;
        copy.headers.set("Authorization", `Bearer ${token}`);
        return this.fetchImpl(copy);
      },
    };
  }
}

export function createSessiondClient(options: Options): SessiondClient {
  return new SessiondClient(options);
}
