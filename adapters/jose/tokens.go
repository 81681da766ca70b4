package jose

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/sessiond/sessiond/core"
)

// Token types (the JOSE typ header). Access tokens follow RFC 9068; refresh
// tokens have a distinct type so neither is ever accepted as the other.
const (
	TypeAccess  = "at+jwt"
	TypeRefresh = "rt+jwt"
	// TypeDevice is the device token (core.DeviceClaims): the value of the
	// sign-in device cookie, never a credential for anything else.
	TypeDevice = "dv+jwt"
)

// MaxTokenLength bounds what is parsed at all.
const MaxTokenLength = 4096

// Codec implements core.TokenCodec.
type Codec struct {
	keys     *KeySet
	signers  map[string]gojose.Signer // by typ
	issuer   string
	audience string
	clientID string
}

var _ core.TokenCodec = (*Codec)(nil)

// NewCodec returns a Codec signing with the first key of keys.
func NewCodec(keys *KeySet, issuer, audience, clientID string) (*Codec, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("tokens: issuer and audience are required")
	}
	if issuer == audience {
		// Refresh tokens are addressed to the issuer (refreshAudience); an
		// access audience equal to it would let them pass as access tokens.
		return nil, errors.New("tokens: the access-token audience must differ from the issuer")
	}
	signKey := keys.keys[0]
	c := &Codec{keys: keys, signers: map[string]gojose.Signer{}, issuer: issuer, audience: audience, clientID: clientID}
	for _, typ := range []string{TypeAccess, TypeRefresh, TypeDevice} {
		s, err := gojose.NewSigner(
			gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(signKey.Algorithm), Key: signKey},
			(&gojose.SignerOptions{}).WithType(gojose.ContentType(typ)))
		if err != nil {
			return nil, fmt.Errorf("tokens: signer: %w", err)
		}
		c.signers[typ] = s
	}
	return c, nil
}

// JWKS returns the public verification keys.
func (c *Codec) JWKS() gojose.JSONWebKeySet { return c.keys.PublicJWKS() }

type accessClaims struct {
	jwt.Claims
	SessionID string `json:"sid"`
	TenantID  string `json:"tid"`
	Role      string `json:"role"`
	ClientID  string `json:"client_id,omitempty"`
	// How the session authenticated (RFC 8176 amr, acr "aal1"/"aal2",
	// OIDC auth_time: the session's latest authentication), and the mark
	// of an enrol-only session (docs/session-rules.md §11).
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AuthTime  *int64   `json:"auth_time,omitempty"`
	EnrolOnly bool     `json:"mfa_enrol_only,omitempty"`
}

type refreshClaims struct {
	jwt.Claims
	SessionID string `json:"sid"`
	TenantID  string `json:"tid,omitempty"`
	AuthTime  *int64 `json:"auth_time,omitempty"`
	IdleMax   *int64 `json:"idle_max,omitempty"`
	AbsMax    *int64 `json:"abs_max,omitempty"`
}

// SignAccess implements core.TokenCodec.
func (c *Codec) SignAccess(a core.AccessClaims) (string, error) {
	cl := accessClaims{
		Claims: jwt.Claims{
			Issuer: c.issuer, Audience: jwt.Audience{c.audience}, Subject: a.Subject.String(), ID: a.JTI,
			IssuedAt: jwt.NewNumericDate(a.IssuedAt), NotBefore: jwt.NewNumericDate(a.IssuedAt),
			Expiry: jwt.NewNumericDate(a.ExpiresAt),
		},
		SessionID: a.SessionID.String(), TenantID: a.AccountID.String(), Role: string(a.Role), ClientID: c.clientID,
		AMR: a.AMR, ACR: a.ACR, EnrolOnly: a.EnrolOnly,
	}
	if !a.AuthTime.IsZero() {
		at := a.AuthTime.Unix()
		cl.AuthTime = &at
	}
	return c.sign(TypeAccess, cl)
}

// refreshAudience is the aud of refresh tokens: the issuer, this service's
// token endpoint, the only party that ever consumes them (as Keycloak does).
//
// SECURITY: refresh and access tokens are signed with the same published
// key and carry the same iss. A resource server that verifies access tokens
// offline with the JWKS but ignores typ (golang-jwt cannot check it) would
// otherwise accept a stolen, spent or revoked refresh token as an access
// token for its whole idle window. With its own aud, every audience check
// refuses it (JWT-10).
func (c *Codec) refreshAudience() string { return c.issuer }

// SignRefresh implements core.TokenCodec.
func (c *Codec) SignRefresh(r core.RefreshClaims) (string, error) {
	cl := refreshClaims{
		Claims: jwt.Claims{
			Issuer: c.issuer, Audience: jwt.Audience{c.refreshAudience()}, Subject: r.Subject.String(), ID: r.JTI,
			IssuedAt: jwt.NewNumericDate(r.IssuedAt), Expiry: jwt.NewNumericDate(r.ExpiresAt),
		},
		SessionID: r.SessionID.String(),
	}
	if r.AccountID != uuid.Nil {
		cl.TenantID = r.AccountID.String()
	}
	if r.AuthTime != nil {
		at, idle, abs := r.AuthTime.Unix(), r.IdleMax, r.AbsMax
		cl.AuthTime, cl.IdleMax, cl.AbsMax = &at, &idle, &abs
	}
	return c.sign(TypeRefresh, cl)
}

// sign serialises claims with encoding/json and signs them with the typ's
// go-jose signer, compact form. jwt.Signed(...).Claims(...) would marshal
// the claims, unmarshal them into a map and marshal that again (to merge
// claim sets): under load that was a third of the cost of issuing a token
// pair (make bench, CPU profile of the refresh scenario). The claims types
// are plain structs with the registered claims' own JSON marshalling
// (jwt.NumericDate, jwt.Audience), so the payload is the same claim set.
func (c *Codec) sign(typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("tokens: claims: %w", err)
	}
	jws, err := c.signers[typ].Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokens: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// verify parses token, pins the algorithm to the key named by kid, checks
// the typ header case-insensitively (RFC 9068 §4) and the issuer, and
// decodes the claims into out. It never follows jku/x5u/jwk headers: keys
// come only from the configured set.
func (c *Codec) verify(token, wantTyp string, out any) error {
	if token == "" || len(token) > MaxTokenLength {
		return errors.New("token missing or too long")
	}
	tok, err := jwt.ParseSigned(token, allowedAlgs)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return errors.New("exactly one signature expected")
	}
	h := tok.Headers[0]
	if h.JSONWebKey != nil {
		return errors.New("embedded keys are not accepted")
	}
	for _, name := range []string{"jku", "x5u", "crit"} {
		if _, ok := h.ExtraHeaders[gojose.HeaderKey(name)]; ok {
			return fmt.Errorf("header %q is not accepted", name)
		}
	}
	typ, _ := h.ExtraHeaders[gojose.HeaderType].(string)
	if !typMatches(typ, wantTyp) {
		return fmt.Errorf("token type %q is not %q", typ, wantTyp)
	}
	key, ok := c.keys.verifierByKID(h.KeyID)
	if !ok {
		return errors.New("unknown kid")
	}
	if h.Algorithm != key.Algorithm {
		return errors.New("algorithm does not match the key")
	}
	if err := tok.Claims(key.Key, out); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// typMatches compares JOSE typ values case-insensitively, accepting the
// "application/" prefix (RFC 7515 §4.1.9).
func typMatches(got, want string) bool {
	got = strings.ToLower(got)
	return got == want || got == "application/"+want
}

// VerifyAccess implements core.TokenCodec.
func (c *Codec) VerifyAccess(token string, now time.Time) (core.AccessClaims, error) {
	var cl accessClaims
	if err := c.verify(token, TypeAccess, &cl); err != nil {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token is not valid")
	}
	if cl.Issuer != c.issuer || !cl.Audience.Contains(c.audience) {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token is not for this service")
	}
	// A time claim at or before the Unix epoch is not one we issue; iat at
	// year 1 would even read back as the zero time (found by FuzzVerifyAccess).
	if cl.Expiry == nil || cl.IssuedAt == nil || *cl.IssuedAt <= 0 || cl.ID == "" {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token lacks required claims")
	}
	if !now.Before(cl.Expiry.Time()) {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token has expired")
	}
	if cl.IssuedAt.Time().After(now.Add(core.TokenClockSkew)) || (cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(core.TokenClockSkew))) {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token is not valid yet")
	}
	sub, err1 := uuid.Parse(cl.Subject)
	sid, err2 := uuid.Parse(cl.SessionID)
	tid, err3 := uuid.Parse(cl.TenantID)
	role := core.Role(cl.Role)
	if err1 != nil || err2 != nil || err3 != nil || !role.Valid() {
		return core.AccessClaims{}, invalid(core.CodeInvalidToken, "access token claims are malformed")
	}
	return core.AccessClaims{
		Subject: sub, SessionID: sid, AccountID: tid, Role: role, JTI: cl.ID,
		IssuedAt: cl.IssuedAt.Time(), ExpiresAt: cl.Expiry.Time(),
		AMR: cl.AMR, ACR: cl.ACR, AuthTime: unixOrZero(cl.AuthTime), EnrolOnly: cl.EnrolOnly,
	}, nil
}

// VerifyRefresh implements core.TokenCodec. Time claims (exp, nbf) are not
// judged here: that is the refresh decision's, which knows now.
func (c *Codec) VerifyRefresh(token string) (core.RefreshClaims, error) {
	bad := invalid(core.CodeInvalidRefreshToken, "refresh token is not valid")
	var cl refreshClaims
	if err := c.verify(token, TypeRefresh, &cl); err != nil {
		return core.RefreshClaims{}, bad
	}
	// aud must name the refresh audience: RFC 7519 §4.1.3 requires a token
	// whose aud does not name this service to be rejected. Tokens signed
	// before refresh tokens had their own aud carry the access audience;
	// they are still accepted here (typ already tells them apart), so that
	// the upgrade signs nobody out, and their successors get the new aud.
	// exp at or before the Unix epoch is malformed: at year 1 it would read
	// back as the zero time, which DecideRefresh takes for "no exp" and so
	// skip the token's idle deadline (found by FuzzVerifyRefresh).
	audOK := cl.Audience.Contains(c.refreshAudience()) || cl.Audience.Contains(c.audience)
	if cl.Issuer != c.issuer || !audOK || cl.ID == "" || cl.Expiry == nil || *cl.Expiry <= 0 {
		return core.RefreshClaims{}, bad
	}
	sub, err1 := uuid.Parse(cl.Subject)
	sid, err2 := uuid.Parse(cl.SessionID)
	if err1 != nil || err2 != nil {
		return core.RefreshClaims{}, bad
	}
	out := core.RefreshClaims{Subject: sub, SessionID: sid, JTI: cl.ID, ExpiresAt: cl.Expiry.Time()}
	if cl.IssuedAt != nil {
		out.IssuedAt = cl.IssuedAt.Time()
	}
	if cl.NotBefore != nil {
		out.NotBefore = cl.NotBefore.Time() // judged by core.DecideRefresh, which knows now
	}
	if cl.TenantID != "" {
		tid, err := uuid.Parse(cl.TenantID)
		if err != nil {
			return core.RefreshClaims{}, bad
		}
		out.AccountID = tid
	}
	switch {
	case cl.AuthTime == nil && cl.IdleMax == nil && cl.AbsMax == nil:
		// legacy token: grandfather path
	case cl.AuthTime != nil && cl.IdleMax != nil && cl.AbsMax != nil && *cl.IdleMax > 0 && *cl.IdleMax <= *cl.AbsMax:
		at := time.Unix(*cl.AuthTime, 0)
		out.AuthTime, out.IdleMax, out.AbsMax = &at, *cl.IdleMax, *cl.AbsMax
	default:
		return core.RefreshClaims{}, bad
	}
	return out, nil
}

type deviceClaims struct {
	jwt.Claims
	// EmailDigest is core.DeviceClaims.EmailDigest, base64url.
	EmailDigest string `json:"edh"`
}

// deviceAudience is the aud of device tokens: the issuer's sign-in
// endpoint, distinct from both the access and the refresh audience, so
// that no audience check anywhere accepts one as another token.
func (c *Codec) deviceAudience() string { return c.issuer + "#device" }

// SignDevice implements core.TokenCodec.
func (c *Codec) SignDevice(d core.DeviceClaims) (string, error) {
	return c.sign(TypeDevice, deviceClaims{
		Claims: jwt.Claims{
			Issuer: c.issuer, Audience: jwt.Audience{c.deviceAudience()}, ID: d.ID,
			IssuedAt: jwt.NewNumericDate(d.IssuedAt), Expiry: jwt.NewNumericDate(d.ExpiresAt),
		},
		EmailDigest: base64.RawURLEncoding.EncodeToString(d.EmailDigest),
	})
}

// VerifyDevice implements core.TokenCodec.
func (c *Codec) VerifyDevice(token string, now time.Time) (core.DeviceClaims, error) {
	bad := errors.New("device token is not valid")
	var cl deviceClaims
	if err := c.verify(token, TypeDevice, &cl); err != nil {
		return core.DeviceClaims{}, bad
	}
	if cl.Issuer != c.issuer || !cl.Audience.Contains(c.deviceAudience()) || cl.ID == "" || cl.Expiry == nil || cl.IssuedAt == nil {
		return core.DeviceClaims{}, bad
	}
	if !now.Before(cl.Expiry.Time()) || cl.IssuedAt.Time().After(now.Add(core.TokenClockSkew)) {
		return core.DeviceClaims{}, bad
	}
	edh, err := base64.RawURLEncoding.DecodeString(cl.EmailDigest)
	if err != nil || len(edh) != 32 {
		return core.DeviceClaims{}, bad
	}
	return core.DeviceClaims{ID: cl.ID, EmailDigest: edh, IssuedAt: cl.IssuedAt.Time(), ExpiresAt: cl.Expiry.Time()}, nil
}

func invalid(code core.Code, msg string) error { return &core.Error{Code: code, Message: msg} }

func unixOrZero(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.Unix(*v, 0)
}
