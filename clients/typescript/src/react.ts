// @sessiond/client/react: a provider and a hook over one SessiondClient.
// The hook re-renders on the client's events, including those another tab
// caused (its sign-in, refresh, sign-out reach this tab over the
// BroadcastChannel), so every tab shows the same state.

import { createContext, createElement, useContext, useEffect, useMemo, useSyncExternalStore, type ReactElement, type ReactNode } from "react";
import { SessiondError, type MfaAnswer, type MfaChallenge, type SessiondClient, type SignInResult, type SignedOutReason, type User, type Warning } from "./index.js";

export type SessionStatus = "loading" | "signed-in" | "signed-out";

export interface SessionState {
  status: SessionStatus;
  /** The signed-in user (GET /api/v1/auth/me), once loaded. */
  user: User | null;
  /** The last failure (sign-in refused, API unreachable, …); cleared by the next success. */
  error: SessiondError | null;
  /** Why the session ended, when it did. */
  signedOutReason: SignedOutReason | null;
  /** The last warning (e.g. single-tab mode). */
  warning: Warning | null;
}

export interface UseSession extends SessionState {
  client: SessiondClient;
  /**
   * Signs in (cookie transport); resolves `{ kind: "mfa", challenge }` when a
   * second factor is needed (answer with verifyMfa). Rejects with
   * SessiondError, also kept in `error`.
   */
  signIn(email: string, password: string, deviceId?: string): Promise<SignInResult>;
  /** Answers a sign-in's second-factor challenge; rejects like signIn. */
  verifyMfa(challenge: MfaChallenge | string, answer: MfaAnswer, deviceId?: string): Promise<void>;
  /** Ends the session on the server and in every tab; rejects with SessiondError when it could not. */
  signOut(): Promise<void>;
  /** Reloads `user`. */
  reload(): Promise<void>;
}

const asError = (e: unknown): SessiondError =>
  e instanceof SessiondError ? e : new SessiondError(0, "network_error", undefined, { cause: e, message: String(e) });

/** The observable state of one client (one per provider). */
class SessionStore {
  private state: SessionState = { status: "loading", user: null, error: null, signedOutReason: null, warning: null };
  private readonly subs = new Set<() => void>();
  private userFor: string | null = null;

  constructor(readonly client: SessiondClient) {}

  get = (): SessionState => this.state;

  subscribe = (fn: () => void): (() => void) => {
    this.subs.add(fn);
    return () => {
      this.subs.delete(fn);
    };
  };

  private set(patch: Partial<SessionState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of [...this.subs]) fn();
  }

  /** Wires the client's events; returns the cleanup. */
  start(restore: boolean): () => void {
    const c = this.client;
    const offs = [
      c.on("signed-in", ({ sessionId }) => {
        this.set({ status: "signed-in", error: null, signedOutReason: null });
        void this.loadUser(sessionId);
      }),
      c.on("signed-out", ({ reason }) => {
        this.userFor = null;
        this.set({ status: "signed-out", user: null, signedOutReason: reason });
      }),
      c.on("warning", (w) => this.set({ warning: w })),
    ];
    if (c.signedIn) {
      this.set({ status: "signed-in" });
      void this.loadUser("current");
    } else if (restore) {
      c.restore().then(
        (ok) => {
          if (!ok && this.state.status === "loading") this.set({ status: "signed-out" });
        },
        (e: unknown) => this.set({ status: c.signedIn ? "signed-in" : "signed-out", error: asError(e) }),
      );
    } else {
      this.set({ status: "signed-out" });
    }
    return () => offs.forEach((off) => off());
  }

  async loadUser(key: string): Promise<void> {
    if (this.userFor === key && this.state.user) return;
    this.userFor = key;
    try {
      const user = await this.client.me();
      if (this.userFor === key && this.client.signedIn) this.set({ user, error: null });
    } catch (e) {
      if (this.client.signedIn) this.set({ error: asError(e) });
    }
  }

  signIn = async (email: string, password: string, deviceId?: string): Promise<SignInResult> => {
    try {
      return await this.client.signIn(email, password, deviceId);
    } catch (e) {
      const err = asError(e);
      this.set({ error: err });
      throw err;
    }
  };

  verifyMfa = async (challenge: MfaChallenge | string, answer: MfaAnswer, deviceId?: string): Promise<void> => {
    try {
      await this.client.verifyMfa(challenge, answer, deviceId);
    } catch (e) {
      const err = asError(e);
      this.set({ error: err });
      throw err;
    }
  };

  signOut = async (): Promise<void> => {
    try {
      await this.client.logout();
      if (this.state.status !== "signed-out") this.set({ status: "signed-out", user: null, signedOutReason: "logout" });
    } catch (e) {
      const err = asError(e);
      this.set({ error: err });
      throw err;
    }
  };

  reload = async (): Promise<void> => {
    this.userFor = null;
    await this.loadUser("reload");
  };
}

const Context = createContext<SessionStore | null>(null);

export interface SessionProviderProps {
  client: SessiondClient;
  /** Join an existing session on mount (peer tab or refresh cookie). Default true. */
  restore?: boolean;
  children?: ReactNode;
}

/** Provides one SessiondClient's session to useSession(). Create the client once, outside render. */
export function SessionProvider({ client, restore = true, children }: SessionProviderProps): ReactElement {
  const store = useMemo(() => new SessionStore(client), [client]);
  useEffect(() => store.start(restore), [store, restore]);
  return createElement(Context.Provider, { value: store }, children);
}

/** The session: status, user, last error and warning, and the actions. Re-renders on every tab's events. */
export function useSession(): UseSession {
  const store = useContext(Context);
  if (!store) throw new SessiondError(0, "invalid_options", undefined, { message: "useSession() must be used inside <SessionProvider>" });
  const state = useSyncExternalStore(store.subscribe, store.get, store.get);
  return useMemo(
    () => ({ ...state, client: store.client, signIn: store.signIn, verifyMfa: store.verifyMfa, signOut: store.signOut, reload: store.reload }),
    [state, store],
  );
}
