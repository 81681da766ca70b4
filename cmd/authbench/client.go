package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// api drives the public HTTP API only.
type api struct {
	base string // e.g. http://127.0.0.1:8080/api/v1
	hc   *http.Client
}

func newAPI(root string, conns int) *api {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 64,
		MaxIdleConnsPerHost: conns + 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &api{base: root + "/api/v1", hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

// call is the outcome of one request.
type call struct {
	status int
	code   string
	dur    time.Duration
	body   []byte
	// retryAfter: the answer carried a Retry-After header.
	retryAfter bool
}

func (c call) ok() bool { return c.status >= 200 && c.status < 300 }

func (c call) err() error {
	if c.ok() {
		return nil
	}
	return fmt.Errorf("HTTP %d %s", c.status, c.code)
}

// do sends one request and reads the whole answer (so the connection is
// reused); dur spans sending to the last byte read.
func (a *api) do(ctx context.Context, method, path, bearer string, body []byte) call {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return call{code: "bad_request_build"}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	start := time.Now()
	res, err := a.hc.Do(req)
	if err != nil {
		c := call{dur: time.Since(start), code: "transport_error"}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			c.code = "canceled"
		}
		return c
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	c := call{status: res.StatusCode, dur: time.Since(start), body: b, retryAfter: res.Header.Get("Retry-After") != ""}
	if err != nil {
		c.status, c.code = 0, "read_error"
		return c
	}
	if !c.ok() {
		var p struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(b, &p) == nil {
			c.code = p.Code
		}
	}
	return c
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (c call) tokens() (tokenPair, error) {
	var tp tokenPair
	if err := c.err(); err != nil {
		return tp, err
	}
	if err := json.Unmarshal(c.body, &tp); err != nil {
		return tp, err
	}
	if tp.AccessToken == "" || tp.RefreshToken == "" {
		return tp, errors.New("token response without tokens")
	}
	return tp, nil
}

func (a *api) login(ctx context.Context, email, password string) (tokenPair, call) {
	c := a.do(ctx, http.MethodPost, "/auth/login/json", "", jsonBody(map[string]string{"email": email, "password": password}))
	tp, err := c.tokens()
	if err != nil && c.ok() {
		c.status, c.code = 0, "bad_token_response"
	}
	return tp, c
}

func (a *api) refresh(ctx context.Context, refreshToken string) (tokenPair, call) {
	c := a.do(ctx, http.MethodPost, "/auth/refresh", "", jsonBody(map[string]string{"refresh_token": refreshToken}))
	tp, err := c.tokens()
	if err != nil && c.ok() {
		c.status, c.code = 0, "bad_token_response"
	}
	return tp, c
}

func (a *api) me(ctx context.Context, accessToken string) call {
	return a.do(ctx, http.MethodGet, "/auth/me", accessToken, nil)
}

// waitReady polls root+/readyz until it answers 200 or timeout passes.
func waitReady(ctx context.Context, root string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, root+"/readyz", nil)
		res, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not ready after %s (last error: %v)", root, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
