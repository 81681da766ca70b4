// Command flow runs the main flow of a Go service through the oapi-codegen
// client generated from openapi.yaml (clients/go/client, unedited) against
// a live server: register → login → me → sessions → refresh → policy
// read/patch/clear-with-null → JWKS → logout. scripts/clients-matrix.sh runs
// it with SESSIOND_URL set to the server's origin, the one base URL of every
// operation.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/sessiond/sessiond/clients/go/client"
)

var passed int

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Printf("  FAIL "+format+"\n", args...)
		fmt.Printf("oapi-codegen-go: %d passed, 1 failed\n", passed)
		os.Exit(1)
	}
}

func step(name string) {
	passed++
	fmt.Printf("  ok   %s\n", name)
}

func main() {
	base := os.Getenv("SESSIOND_URL")
	if base == "" {
		fmt.Fprintln(os.Stderr, "SESSIOND_URL is not set")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("oapi-codegen-go:")
	c, err := client.NewClientWithResponses(base)
	check(err == nil, "client: %v", err)

	email := fmt.Sprintf("go.%d@example.com", time.Now().UnixNano())
	const password = "correct horse battery staple"
	reg, err := c.RegisterUserWithResponse(ctx, client.RegisterRequest{Email: email, Password: password, Name: "Go", AccountName: "Go Co"})
	check(err == nil && reg.JSON201 != nil && string(reg.JSON201.Email) == email, "register: %v %s", err, body(reg.Body))
	step("register")

	device := client.DeviceId("oapi-codegen-go")
	login, err := c.LoginJsonWithResponse(ctx, &client.LoginJsonParams{XDeviceId: &device}, client.LoginRequest{Email: email, Password: password})
	check(err == nil && login.JSON200 != nil && login.JSON200.RefreshToken != nil, "login: %v %s", err, body(login.Body))
	at, rt := login.JSON200.AccessToken, *login.JSON200.RefreshToken
	bearer := func(ctx context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+at)
		return nil
	}
	step("login (X-Device-Id sent)")

	me, err := c.GetMeWithResponse(ctx, bearer)
	check(err == nil && me.JSON200 != nil && string(me.JSON200.Email) == email, "me: %v %s", err, body(me.Body))
	step("me")

	sessions, err := c.ListSessionsWithResponse(ctx, bearer)
	check(err == nil && sessions.JSON200 != nil, "sessions: %v %s", err, body(sessions.Body))
	found := false
	for _, s := range sessions.JSON200.Items {
		found = found || (s.IsCurrent && s.DeviceId != nil && *s.DeviceId == string(device))
	}
	check(found, "sessions: no current session with the device id: %s", body(sessions.Body))
	step("sessions")

	refreshed, err := c.RefreshTokenWithResponse(ctx, nil, client.RefreshRequest{RefreshToken: &rt})
	check(err == nil && refreshed.JSON200 != nil && refreshed.JSON200.RefreshToken != nil, "refresh: %v %s", err, body(refreshed.Body))
	at, rt = refreshed.JSON200.AccessToken, *refreshed.JSON200.RefreshToken
	step("refresh")

	read, err := c.GetAccountSecurityWithResponse(ctx, bearer)
	check(err == nil && read.JSON200 != nil, "policy read: %v %s", err, body(read.Body))
	set, err := c.UpdateAccountSecurityWithResponse(ctx, client.SessionPolicyPatch{IdleMinutes: nullable.NewNullableWithValue(60)}, bearer)
	check(err == nil && set.JSON200 != nil && set.JSON200.IdleMinutes != nil && *set.JSON200.IdleMinutes == 60, "policy patch: %v %s", err, body(set.Body))
	cleared, err := c.UpdateAccountSecurityWithResponse(ctx, client.SessionPolicyPatch{IdleMinutes: nullable.NewNullNullable[int]()}, bearer)
	check(err == nil && cleared.JSON200 != nil && cleared.JSON200.IdleMinutes == nil, "policy clear with null: %v %s", err, body(cleared.Body))
	step("policy read / patch / clear with null (nullable.Nullable sends null)")

	jwks, err := c.GetJwksWithResponse(ctx)
	check(err == nil && jwks.JSON200 != nil && len(jwks.JSON200.Keys) > 0, "jwks: %v %d", err, status(jwks.HTTPResponse))
	step("jwks (same base URL)")

	out, err := c.LogoutWithResponse(ctx, nil, client.LogoutRequest{RefreshToken: &rt}, bearer)
	check(err == nil && out.StatusCode() == http.StatusNoContent, "logout: %v %s", err, body(out.Body))
	after, err := c.GetMeWithResponse(ctx, bearer)
	check(err == nil && after.ApplicationproblemJSON401 != nil, "me after logout: %v %s", err, body(after.Body))
	var code client.ProblemCode = after.ApplicationproblemJSON401.Code
	check(code == client.ProblemCodeInvalidToken, "me after logout: code %s", code)
	step("logout; typed ProblemCode invalid_token after")
	fmt.Printf("oapi-codegen-go: %d passed, 0 failed\n", passed)
}

func body(b []byte) string { return string(b) }

func status(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}
