// openapi-typescript types + openapi-fetch, unedited, one base URL.
import createClient from "openapi-fetch";
import type { components, paths } from "../gen/openapi-typescript/schema.js";
import { base, check, checkTokens, freshEmail, password, run, step } from "./common.js";

type ProblemCode = components["schemas"]["ProblemCode"];

await run("openapi-fetch", async () => {
  const api = createClient<paths>({ baseUrl: base });
  const email = freshEmail("openapi-fetch");
  const reg = await api.POST("/api/v1/auth/register", { body: { email, password, name: "OF", account_name: "OF Co" } });
  // The matrix server runs with EMAIL_VERIFICATION=off: 201 with the owner (202 is the pending registration).
  check(reg.response.status === 201 && reg.data !== undefined && "email" in reg.data && reg.data.email === email, "register", reg.error);
  step("register");

  const login = await api.POST("/api/v1/auth/login/json", { body: { email, password }, params: { header: { "X-Device-Id": "openapi-fetch" } } });
  check(login.data !== undefined, "login", login.error);
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

  const out = await api.POST("/api/v1/auth/logout", { headers: auth(), body: { refresh_token: rt } });
  check(out.response.status === 204, "logout", out.error);
  const after = await api.GET("/api/v1/auth/me", { headers: auth() });
  const code: ProblemCode | undefined = after.error?.code;
  check(after.response.status === 401 && code === "invalid_token", "me after logout", after.error);
  step("logout; typed ProblemCode invalid_token after");
});
