// @hey-api/openapi-ts (client-fetch), unedited. The usual single `auth`
// callback answers every security scheme with the access token: the refresh
// operation must still work (the spec declares no bearer scheme there).
import { client } from "../gen/hey-api/client.gen.js";
import { getAccountSecurity, getJwks, getMe, listSessions, loginJson, logout, refreshToken, registerUser, updateAccountSecurity } from "../gen/hey-api/sdk.gen.js";
import type { ProblemCode } from "../gen/hey-api/types.gen.js";
import { base, check, checkTokens, freshEmail, password, run, step } from "./common.js";

await run("hey-api", async () => {
  let at = "";
  client.setConfig({ baseUrl: base, auth: () => at });
  const email = freshEmail("hey-api");
  const reg = await registerUser({ body: { email, password, name: "HA", account_name: "HA Co" } });
  // The matrix server runs with EMAIL_VERIFICATION=off: 201 with the owner (202 is the pending registration).
  check(reg.response.status === 201 && reg.data !== undefined && "email" in reg.data && reg.data.email === email, "register", reg.error);
  step("register");

  const login = await loginJson({ body: { email, password }, headers: { "X-Device-Id": "hey-api" } });
  // A user without a second factor: 200 and tokens (a 202 would be a challenge).
  check(login.data !== undefined && "access_token" in login.data, "login", login.error ?? login.data);
  let rt = checkTokens(login.data, "login");
  at = login.data.access_token;
  step("login (X-Device-Id sent)");

  const me = await getMe();
  check(me.data?.email === email, "me", me.error);
  step("me");

  const sessions = await listSessions();
  check(sessions.data?.items.some((s) => s.is_current && s.device_id === "hey-api") === true, "sessions", sessions.data);
  step("sessions");

  const refreshed = await refreshToken({ body: { refresh_token: rt } });
  check(refreshed.data !== undefined, "refresh with the usual single auth callback", refreshed.error);
  rt = checkTokens(refreshed.data, "refresh");
  at = refreshed.data.access_token;
  step("refresh (single auth callback)");

  const read = await getAccountSecurity();
  check(read.data?.idle_minutes === null, "policy read", read.data);
  const set = await updateAccountSecurity({ body: { idle_minutes: 60 } });
  check(set.data?.idle_minutes === 60, "policy patch", set.error);
  const cleared = await updateAccountSecurity({ body: { idle_minutes: null } });
  check(cleared.data?.idle_minutes === null, "policy clear", cleared.data ?? cleared.error);
  step("policy read / patch / clear with null");

  const jwks = await getJwks();
  check(jwks.response.status === 200 && (jwks.data?.keys.length ?? 0) > 0, "jwks", jwks.response.status);
  step("jwks (same base URL)");

  const out = await logout({ body: { refresh_token: rt } });
  check(out.response.status === 204, "logout", out.error);
  const after = await getMe();
  const code: ProblemCode | undefined = after.error?.code;
  check(after.response.status === 401 && code === "invalid_token", "me after logout", after.error);
  step("logout; typed ProblemCode invalid_token after");
});
