// orval (fetch client, headers: true), unedited.
import { getAccountSecurity, getJwks, getMe, listSessions, loginJson, logout, refreshToken, registerUser, updateAccountSecurity } from "../gen/orval/sessiond.js";
import type { ProblemCode } from "../gen/orval/sessiond.js";
import { check, checkTokens, freshEmail, password, run, step } from "./common.js";

await run("orval", async () => {
  const email = freshEmail("orval");
  const reg = await registerUser({ email, password, name: "OR", account_name: "OR Co" });
  check(reg.status === 201 && reg.data.email === email, "register", reg.data);
  step("register");

  const login = await loginJson({ email, password }, { "X-Device-Id": "orval" });
  check(login.status === 200, "login", login.data);
  let rt = checkTokens(login.data, "login");
  let at = login.data.access_token;
  const auth = () => ({ headers: { Authorization: `Bearer ${at}` } });
  step("login (X-Device-Id sent: headers on)");

  const me = await getMe(auth());
  check(me.status === 200 && me.data.email === email, "me", me.data);
  step("me");

  const sessions = await listSessions(auth());
  check(sessions.status === 200 && sessions.data.items.some((s) => s.is_current && s.device_id === "orval"), "sessions", sessions.data);
  step("sessions");

  const refreshed = await refreshToken({ refresh_token: rt });
  check(refreshed.status === 200, "refresh", refreshed.data);
  rt = checkTokens(refreshed.data, "refresh");
  at = refreshed.data.access_token;
  step("refresh");

  const read = await getAccountSecurity(auth());
  check(read.status === 200 && read.data.idle_minutes === null, "policy read", read.data);
  const set = await updateAccountSecurity({ idle_minutes: 60 }, auth());
  check(set.status === 200 && set.data.idle_minutes === 60, "policy patch", set.data);
  const cleared = await updateAccountSecurity({ idle_minutes: null }, auth());
  check(cleared.status === 200 && cleared.data.idle_minutes === null, "policy clear", cleared.data);
  step("policy read / patch / clear with null");

  const jwks = await getJwks();
  check(jwks.status === 200 && jwks.data.keys.length > 0, "jwks", jwks.status);
  step("jwks (same base URL)");

  const out = await logout({ refresh_token: rt }, {}, auth());
  check(out.status === 204, "logout", out.data);
  const after = await getMe(auth());
  check(after.status === 401, "me after logout", after.data);
  const code: ProblemCode = after.data.code;
  check(code === "invalid_token", "me after logout: code", after.data);
  step("logout; typed ProblemCode invalid_token after");
});
