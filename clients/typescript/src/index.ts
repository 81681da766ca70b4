// sessiond browser client: sign-in with the cookie transport and silent
// refresh, on the openapi-fetch client generated from openapi.yaml.
//
// * Sign-in asks for `X-Session-Transport: cookie`: the refresh token lives
//   only in the HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth; the
//   access token only in memory. Refresh and logout echo the readable
//   `csrf_token` cookie in `X-CSRF-Token`.
// * Silent refresh shortly before the access token expires, and on a
//   `401 invalid_token` (the request is then retried once).
// * One refresh in flight per tab (single-flight promise) and one across the
//   tabs of an origin: the Web Locks API serialises them (a request that
//   waits longer than `lockTimeoutMs` steals the lock, so a hung holder
//   cannot deadlock the others); the new access token is shared over a
//   BroadcastChannel, and a non-secret marker in localStorage (the new
//   token's expiry, never the token) tells a tab that gets the lock after
//   another one refreshed to take the token from its peers instead of
//   rotating again.
// * Errors are `SessiondError`s typed by the spec's `ProblemCode`; a refresh
//   answered with a terminal code (the session was revoked or expired
//   elsewhere) emits `signed-out` in every tab.

import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "../../gen/openapi-typescript/schema";

export type ProblemCode = components["schemas"]["ProblemCode"];
export type Problem = components["schemas"]["Problem"];
export type User = components["schemas"]["User"];
export type TokenResponse = components["schemas"]["TokenResponse"];
export type Api = Client<paths>;

/** Refresh answers after which the session cannot continue. */
export const TERMINAL_REFRESH_CODES: readonly ProblemCode[] = [
  "invalid_refresh_token",
  "refresh_token_reused",
  "session_expired_idle",
  "session_expired_absolute",
];

/** An API failure, typed by the spec's ProblemCode. */
export class SessiondError extends Error {
  constructor(
    readonly status: number,
    readonly code: ProblemCode | "network_error" | "signed_out",
    readonly problem?: Problem,
  ) {
    super(problem?.detail ?? `${status} ${code}`);
    this.name = "SessiondError";
  }
}

export interface Options {
  /** The API's origin, e.g. https://api.example.com (one base URL for every operation). */
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
  /** How long to wait for a peer tab to hand over its newer token. Default 1 s. */
  peerTimeoutMs?: number;
  /** Namespace of the lock, channel and marker. Default derived from baseUrl. */
  name?: string;
}

export type SignedOutReason = ProblemCode | "logout" | "logout_all";

export interface Events {
  "signed-in": { sessionId: string };
  "signed-out": { reason: SignedOutReason; remote: boolean };
  token: { expiresAt: number; source: "sign-in" | "refresh" | "peer" };
}

type Message =
  | { type: "token"; token: string; exp: number; sessionId: string }
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
}

const PUBLIC_PATHS = new Set([
  "/api/v1/auth/register",
  "/api/v1/auth/login/json",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
  "/api/v1/auth/password-reset/request",
  "/api/v1/auth/password-reset/confirm",
  "/.well-known/jwks.json",
  "/healthz",
  "/readyz",
  "/openapi.yaml",
]);

function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

async function problemOf(r: Response): Promise<Problem | undefined> {
  if (!(r.headers.get("content-type") ?? "").includes("json")) return undefined;
  try {
    return (await r.clone().json()) as Problem;
  } catch {
    return undefined;
  }
}

export class SessiondClient {
  /** Typed API client: adds the access token, refreshes and retries once on 401 invalid_token. */
  readonly api: Api;
  /** Typed API client without authentication (cookies included). */
  readonly raw: Api;
  readonly stats: Stats = { networkRefreshes: 0, peerTokens: 0, steals: 0, retries: 0, reused: 0 };

  private token: Held | null = null;
  private inflight: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners: { [K in keyof Events]: Set<(e: Events[K]) => void> } = {
    "signed-in": new Set(),
    "signed-out": new Set(),
    token: new Set(),
  };
  private readonly channel: BroadcastChannel;
  /** The Web Lock every tab of the origin refreshes under. */
  readonly lockName: string;
  private readonly markerKey: string;
  private readonly opt: Required<Omit<Options, "name">>;
  private readonly retryCopies = new Map<string, Request>();

  constructor(options: Options) {
    this.opt = {
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      refreshLeewayMs: options.refreshLeewayMs ?? 30_000,
      proactive: options.proactive ?? true,
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      peerTimeoutMs: options.peerTimeoutMs ?? 1_000,
    };
    const name = options.name ?? `sessiond:${this.opt.baseUrl}`;
    this.lockName = `${name}:refresh`;
    this.markerKey = `${name}:refreshed`;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (e: MessageEvent<Message>) => this.onMessage(e.data);
    this.raw = createClient<paths>({ baseUrl: this.opt.baseUrl, credentials: "include" });
    this.api = createClient<paths>({ baseUrl: this.opt.baseUrl, credentials: "include" });
    this.api.use(this.middleware());
  }

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    this.listeners[event].add(fn);
    return () => this.listeners[event].delete(fn);
  }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const fn of this.listeners[event]) fn(e);
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

  /** Signs in with the cookie transport. Throws SessiondError (e.g. invalid_credentials). */
  async signIn(email: string, password: string, deviceId?: string): Promise<TokenResponse> {
    const header: { "X-Session-Transport": "cookie"; "X-Device-Id"?: string } = { "X-Session-Transport": "cookie" };
    if (deviceId) header["X-Device-Id"] = deviceId;
    const r = await this.raw.POST("/api/v1/auth/login/json", { body: { email, password }, params: { header } });
    if (!r.data) throw new SessiondError(r.response.status, r.error?.code ?? "network_error", r.error);
    this.accept(r.data, "sign-in");
    this.emit("signed-in", { sessionId: r.data.session_id });
    return r.data;
  }

  /**
   * Joins the session of this origin on page load: takes the token from a
   * peer tab, else refreshes with the cookie. Resolves false when there is
   * no session.
   */
  async restore(): Promise<boolean> {
    const t = await this.askPeers(0);
    if (t) return true;
    if (!readCookie("csrf_token")) return false;
    return (await this.refresh(null)) !== null;
  }

  /** The caller's profile. */
  async me(): Promise<User> {
    const r = await this.api.GET("/api/v1/auth/me");
    if (!r.data) throw this.errorOf(r.response, r.error);
    return r.data;
  }

  /** Ends this session (every tab signs out). */
  async logout(): Promise<void> {
    const csrf = readCookie("csrf_token");
    const r = await this.api.POST("/api/v1/auth/logout", { params: { header: csrf ? { "X-CSRF-Token": csrf } : {} } });
    if (r.response.status !== 204 && r.response.status !== 401) throw this.errorOf(r.response, r.error);
    this.signOut("logout", false);
  }

  /** Ends every session of the user, on every device (every tab signs out). */
  async logoutAll(): Promise<number> {
    const r = await this.api.POST("/api/v1/auth/logout-all");
    if (!r.data) throw this.errorOf(r.response, r.error);
    this.signOut("logout_all", false);
    return r.data.revoked_count;
  }

  /**
   * Refreshes once for every caller in this tab and once across the tabs of
   * the origin. `stale` is the access token the caller found wanting (null:
   * none); if a newer one is already here, no refresh happens. Resolves to
   * the access token, or null when the session has ended.
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
    try {
      return await navigator.locks.request(this.lockName, { signal: AbortSignal.timeout(this.opt.lockTimeoutMs) }, underLock);
    } catch (err) {
      if (!(err instanceof DOMException) || (err.name !== "TimeoutError" && err.name !== "AbortError")) throw err;
      // The holder has not let go in time (hung, or frozen mid-refresh):
      // take the lock from it. Should it still finish, the server's grace
      // window makes both answers converge on one token pair.
      this.stats.steals++;
      return await navigator.locks.request(this.lockName, { steal: true }, underLock);
    }
  }

  private async refreshOverNetwork(): Promise<string | null> {
    const csrf = readCookie("csrf_token");
    if (!csrf) {
      this.signOut("invalid_refresh_token", false);
      return null;
    }
    this.stats.networkRefreshes++;
    const r = await this.raw.POST("/api/v1/auth/refresh", { params: { header: { "X-CSRF-Token": csrf } } });
    if (r.data) {
      const held = this.accept(r.data, "refresh");
      this.writeMarker(held.exp);
      this.post({ type: "token", token: held.value, exp: held.exp, sessionId: held.sessionId });
      return held.value;
    }
    const code = r.error?.code;
    if (code === "refresh_token_reused") this.stats.reused++;
    if (r.response.status === 401 && code !== undefined && TERMINAL_REFRESH_CODES.includes(code)) {
      this.signOut(code, false);
      return null;
    }
    throw this.errorOf(r.response, r.error);
  }

  private accept(t: TokenResponse, source: Events["token"]["source"]): Held {
    const lifetime = t.expires_in * 1000;
    return this.hold({ value: t.access_token, exp: Date.now() + lifetime, lifetime, sessionId: t.session_id }, source);
  }

  private hold(held: Held, source: Events["token"]["source"]): Held {
    this.token = held;
    this.schedule();
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
      if (this.token === t) void this.refresh(t.value).catch(() => undefined);
    }, wait);
  }

  private signOut(reason: SignedOutReason, remote: boolean): void {
    const was = this.token !== null;
    this.token = null;
    clearTimeout(this.timer);
    if (!remote) this.post({ type: "signed-out", reason });
    if (was || !remote) this.emit("signed-out", { reason, remote });
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case "token":
        if (!this.token || m.exp > this.token.exp) {
          this.stats.peerTokens++;
          this.hold({ value: m.token, exp: m.exp, lifetime: Math.max(1, m.exp - Date.now()), sessionId: m.sessionId }, "peer");
        }
        break;
      case "want-token":
        if (this.token && !this.due(this.token)) {
          this.post({ type: "token", token: this.token.value, exp: this.token.exp, sessionId: this.token.sessionId });
        }
        break;
      case "signed-out":
        this.signOut(m.reason, true);
        break;
    }
  }

  /** Asks the other tabs for a token expiring at or after minExp. */
  private askPeers(minExp: number): Promise<string | null> {
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
    this.channel.postMessage(m);
  }

  private readMarker(): number | null {
    const v = Number(localStorage.getItem(this.markerKey));
    return Number.isFinite(v) && v > 0 ? v : null;
  }

  private writeMarker(exp: number): void {
    localStorage.setItem(this.markerKey, String(exp));
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
        return fetch(copy);
      },
    };
  }
}

export function createSessiondClient(options: Options): SessiondClient {
  return new SessiondClient(options);
}
