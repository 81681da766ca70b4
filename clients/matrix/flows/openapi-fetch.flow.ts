// openapi-typescript types + openapi-fetch, unedited, one base URL.
import createClient from "openapi-fetch";
import type { components, paths } from "../gen/openapi-typescript/schema.js";
import { base, check, checkTokens, claims, freshEmail, password, run, step, totp } from "./common.js";

type ProblemCode = components["schemas"]["ProblemCode"];

await run("openapi-fetch", async () => {
  const api = createClient<paths>({ baseUrl: base });
  const email = freshEmail("openapi-fetch");
  const reg = await api.POST("/api/v1/auth/register", { body: { email, password, name: "OF", account_name: "OF Co" } });
  // The matrix server runs with EMAIL_VERIFICATION=off: 201 with the owner (202 is the pending registration).
  check(reg.response.status === 201 && reg.data !== undefined && "email" in reg.data && reg.data.email === email, "register", reg.error);
  step("register");

  const login = await api.POST("/api/v1/auth/login/json", { body: { email, password }, params: { header: { "X-Device-Id": "openapi-fetch" } } });
  // A user without a second factor: 200 and tokens (a 202 would be a challenge).
  check(login.data !== undefined && "access_token" in login.data, "login", login.error ?? login.data);
  let rt = checkTokens(login.data, "login");
  let at = login.data.access_token;
  const auth = () => ({ Authorization: `Bearer ${at}` });
  step("login (X-Device-Id sent)");

  const me = await api.GET("/api/v1/auth/me", { headers: auth() });
  check(me.data?.email === email, "me", me.error);
  step("me");

  const sessions = await api.GET("/api/v1/sessions", { headers: auth() });
  check(sessions.data?.items.some((s) => s.is_current && s.device_id === "openapi-fetch") === true, "sessions", sessions.data);
  step("sessions");

  const refreshed = await api.POST("/api/v1/auth/refresh", { body: { refresh_token: rt } });
  check(refreshed.data !== undefined, "refresh", refreshed.error);
  rt = checkTokens(refreshed.data, "refresh");
  at = refreshed.data.access_token;
  step("refresh");

  const read = await api.GET("/api/v1/accounts/me/security", { headers: auth() });
  check(read.data?.idle_minutes === null, "policy read", read.data);
  const set = await api.PATCH("/api/v1/accounts/me/security", { headers: auth(), body: { idle_minutes: 60 } });
  check(set.data?.idle_minutes === 60, "policy patch", set.error);
  const cleared = await api.PATCH("/api/v1/accounts/me/security", { headers: auth(), body: { idle_minutes: null } });
  check(cleared.data?.idle_minutes === null && cleared.data.idle_minutes_min <= cleared.data.effective_idle_minutes && cleared.data.effective_idle_minutes <= cleared.data.effective_absolute_minutes, "policy clear", cleared.data);
  step("policy read / patch / clear with null");

  const jwks = await api.GET("/.well-known/jwks.json");
  check(jwks.response.status === 200 && (jwks.data?.keys.length ?? 0) > 0, "jwks", jwks.response.status);
  step("jwks (same base URL)");

  // Second factor: enrol and confirm TOTP, then sign-in answers 202 with a
  // typed challenge, and the authenticator's code opens the session. Each
  // code is of a later 30-second step than the last (a step is used once).
  const step0 = Math.floor(Date.now() / 30000);
  const enrol = await api.POST("/api/v1/auth/mfa/totp", { headers: auth() });
  check(enrol.response.status === 201 && enrol.data?.otpauth_uri.startsWith("otpauth://totp/") === true, "enrol TOTP", enrol.error);
  const secret = enrol.data.secret;
  const confirmed = await api.POST("/api/v1/auth/mfa/totp/confirm", { headers: auth(), body: { code: totp(secret, step0 - 1) } });
  check(confirmed.data?.recovery_codes.length === 10, "confirm TOTP", confirmed.error);
  const second = await api.POST("/api/v1/auth/login/json", { body: { email, password } });
  check(second.response.status === 202 && second.data !== undefined && "mfa_challenge_token" in second.data, "sign-in with a factor: 202 challenge", second.data ?? second.error);
  const wrong = await api.POST("/api/v1/auth/mfa/verify", { body: { mfa_challenge_token: second.data.mfa_challenge_token, code: totp(secret, step0 + 5) } });
  const wrongCode: ProblemCode | undefined = wrong.error?.code;
  check(wrong.response.status === 401 && wrongCode === "invalid_mfa_code", "a wrong code", wrong.error);
  const verified = await api.POST("/api/v1/auth/mfa/verify", { body: { mfa_challenge_token: second.data.mfa_challenge_token, code: totp(secret) } });
  check(verified.data !== undefined, "verify the challenge", verified.error);
  checkTokens(verified.data, "mfa verify");
  const c = claims(verified.data.access_token);
  check(JSON.stringify(c["amr"]) === '["pwd","otp"]' && c["acr"] === "aal2" && typeof c["auth_time"] === "number", "amr/acr/auth_time", c);
  step("TOTP: enrol, confirm, sign-in 202 challenge, wrong code typed, verify → tokens (amr pwd+otp, aal2)");

  const out = await api.POST("/api/v1/auth/logout", { headers: auth(), body: { refresh_token: rt } });
  check(out.response.status === 204, "logout", out.error);
  const after = await api.GET("/api/v1/auth/me", { headers: auth() });
  const code: ProblemCode | undefined = after.error?.code;
  check(after.response.status === 401 && code === "invalid_token", "me after logout", after.error);
  step("logout; typed ProblemCode invalid_token after");
});
