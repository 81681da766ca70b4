package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// List cursors (docs/security-checklist.md, ADM-03). A cursor is opaque to
// clients: base64url (unpadded) of a small JSON object naming the listing
// it pages, a digest of the filters and sort it was issued under, and the
// last position of the page. A cursor is accepted only by the listing that
// issued it and only with the same filters: anything else is refused with
// CodeInvalidCursor, never silently applied to another list or another
// filter (which would skip or repeat rows the caller cannot notice).
//
// A cursor carries no tenant and needs no secret: the tenant always comes
// from the caller, so a forged or foreign cursor can only name a position
// in the caller's own listing, which paging reaches anyway. Binding is about
// answering precisely, not about access control.

// Listing names: the operation a cursor pages.
const (
	listMembers         = "members"
	listAuditEvents     = "audit_events"
	listAccountSessions = "account_sessions"
	listInvitations     = "invitations"
	listWebhookAttempts = "webhook_attempts"
)

// cursorPos is a position in a listing's keyset order: a time (T) or a
// text key (S), then the row id.
type cursorPos struct {
	T  time.Time
	S  string
	ID uuid.UUID
}

type cursorBody struct {
	List   string    `json:"l"`
	Filter string    `json:"f"`
	T      int64     `json:"t,omitempty"` // Unix nanoseconds
	S      *string   `json:"s,omitempty"`
	ID     uuid.UUID `json:"id"`
}

// filterDigest is the binding of a cursor to the filters and sort of its
// request: the first 12 bytes of SHA-256 over the canonical query (sorted
// keys; empty values dropped), hex.
func filterDigest(filters url.Values) string {
	canon := url.Values{}
	for k, vs := range filters {
		for _, v := range vs {
			if v != "" {
				canon.Add(k, v)
			}
		}
	}
	sum := sha256.Sum256([]byte(canon.Encode()))
	return hex.EncodeToString(sum[:12])
}

func encodeCursor(list string, filters url.Values, pos cursorPos) string {
	b := cursorBody{List: list, Filter: filterDigest(filters), ID: pos.ID}
	if !pos.T.IsZero() {
		b.T = pos.T.UnixNano()
	} else {
		s := pos.S
		b.S = &s
	}
	raw, _ := json.Marshal(b) // cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor returns the position of a cursor issued by list under the
// same filters. withText says whether the position is a text key (S) rather
// than a time (T). Errors: CodeInvalidCursor naming the field "cursor", with
// a message saying which of the three failures it is.
func decodeCursor(s, list string, filters url.Values, withText bool) (cursorPos, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursorPos{}, errCursorMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b cursorBody
	if err := dec.Decode(&b); err != nil || dec.More() || b.List == "" || b.ID == uuid.Nil {
		return cursorPos{}, errCursorMalformed
	}
	if b.List != list {
		return cursorPos{}, FieldError(CodeInvalidCursor, "cursor",
			"cursor belongs to another listing (%s); pass it only to the listing that returned it, or start without a cursor", b.List)
	}
	if b.Filter != filterDigest(filters) {
		return cursorPos{}, FieldError(CodeInvalidCursor, "cursor",
			"cursor was issued for other filters or another sort; repeat the request that returned it with the same parameters (only limit may change), or start without a cursor")
	}
	if withText {
		if b.S == nil || b.T != 0 {
			return cursorPos{}, errCursorMalformed
		}
		return cursorPos{S: *b.S, ID: b.ID}, nil
	}
	if b.T <= 0 || b.S != nil {
		return cursorPos{}, errCursorMalformed
	}
	return cursorPos{T: time.Unix(0, b.T).UTC(), ID: b.ID}, nil
}

var errCursorMalformed = &Error{Code: CodeInvalidCursor, Field: "cursor",
	Message: "cursor is not a cursor of this API; pass a previous page's next_cursor unchanged, or start without a cursor"}

// pageLimit checks a page size against its listing's bounds; 0 is the
// default. Errors: CodeValidation naming "limit" with the bounds.
func pageLimit(limit, def, maxLimit int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || limit > maxLimit {
		return 0, FieldError(CodeValidation, "limit", "limit must be an integer from 1 to %d", maxLimit)
	}
	return limit, nil
}
