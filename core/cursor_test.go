package core

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A cursor round-trips only through the listing and filters that issued it
// (docs/security-checklist.md, ADM-03); anything else is CodeInvalidCursor
// naming the field, with a message saying which failure it is.
func TestCursor_ADM03_BoundToListingAndFilters(t *testing.T) {
	id := uuid.New()
	at := time.Date(2031, 3, 1, 9, 0, 0, 123, time.UTC)
	f := url.Values{"actor_user_id": {id.String()}, "action": {""}}
	c := encodeCursor(listAuditEvents, f, cursorPos{T: at, ID: id})
	pos, err := decodeCursor(c, listAuditEvents, url.Values{"actor_user_id": {id.String()}}, false) // empty values do not count
	if err != nil || !pos.T.Equal(at) || pos.ID != id {
		t.Fatalf("round trip: %+v %v", pos, err)
	}
	named := encodeCursor(listMembers, url.Values{"sort": {"name"}}, cursorPos{S: "Zoë", ID: id})
	if pos, err := decodeCursor(named, listMembers, url.Values{"sort": {"name"}}, true); err != nil || pos.S != "Zoë" {
		t.Fatalf("text position: %+v %v", pos, err)
	}
	for _, tc := range []struct {
		name, cursor, list string
		filters            url.Values
		text               bool
		want               string
	}{
		{"another listing", c, listAccountSessions, f, false, "another listing (audit_events)"},
		{"other filters", c, listAuditEvents, url.Values{"actor_user_id": {uuid.NewString()}}, false, "other filters"},
		{"a filter added", c, listAuditEvents, url.Values{"actor_user_id": {id.String()}, "action": {"auth.logout"}}, false, "other filters"},
		{"other sort", named, listMembers, url.Values{"sort": {"-name"}}, true, "other filters"},
		{"time where text", c, listAuditEvents, f, true, "not a cursor"},
		{"garbage", "!!", listAuditEvents, f, false, "not a cursor"},
		{"legacy position-only", "eyJ0IjoxLCJpZCI6IjBiNmY1ZThlLTJmNGMtNGE1My05YTNlLTZmMWQ5YzJiN2ExMCJ9", listAuditEvents, f, false, "not a cursor"},
	} {
		_, err := decodeCursor(tc.cursor, tc.list, tc.filters, tc.text)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidCursor || e.Field != "cursor" || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %v, want invalid_cursor saying %q", tc.name, err, tc.want)
		}
	}
}
