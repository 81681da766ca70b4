package postgres

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// The direct uuid encoding writes the same bytes as the driver.Valuer path
// it replaces, in both formats, through pointers and in arrays, and a nil
// pointer is still NULL.
func TestUUIDEncoding_SameBytesAsTheValuerPath(t *testing.T) {
	id := uuid.MustParse("9b2d4c1e-6a7f-4e3b-8c5d-1f2a3b4c5d6e")
	var nilID *uuid.UUID
	cases := []struct {
		name  string
		oid   uint32
		value any
	}{
		{"uuid binary", pgtype.UUIDOID, id},
		{"pointer", pgtype.UUIDOID, &id},
		{"nil pointer", pgtype.UUIDOID, nilID},
		{"array", pgtype.UUIDArrayOID, []uuid.UUID{id, uuid.Nil}},
		{"as text", pgtype.TextOID, id},
	}
	for _, c := range cases {
		for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
			old := pgtype.NewMap()
			want, err := old.Encode(c.oid, format, c.value, nil)
			if err != nil {
				t.Fatalf("%s/%d: valuer path: %v", c.name, format, err)
			}
			m := pgtype.NewMap()
			registerUUIDEncoding(m)
			got, err := m.Encode(c.oid, format, c.value, nil)
			if err != nil {
				t.Fatalf("%s/%d: %v", c.name, format, err)
			}
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Errorf("%s/%d: %x, want %x", c.name, format, got, want)
			}
		}
	}
}

// BenchmarkUUIDEncode is one uuid parameter as the hot statements send it
// (binary): old = pgx's driver.Valuer path, new = registerUUIDEncoding.
func BenchmarkUUIDEncode(b *testing.B) {
	id := uuid.New()
	for _, name := range []string{"old", "new"} {
		b.Run(name, func(b *testing.B) {
			m := pgtype.NewMap()
			if name == "new" {
				registerUUIDEncoding(m)
			}
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Scanning a uuid column into a uuid.UUID gives what the sql.Scanner path
// gave: the value for 16 bytes, the value untouched for NULL, an error for
// any other length, and the text format still parses.
func TestUUIDScan_SameAsTheScannerPath(t *testing.T) {
	id := uuid.MustParse("9b2d4c1e-6a7f-4e3b-8c5d-1f2a3b4c5d6e")
	prev := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	cases := []struct {
		name   string
		format int16
		src    []byte
	}{
		{"binary", pgtype.BinaryFormatCode, id[:]},
		{"null", pgtype.BinaryFormatCode, nil},
		{"short", pgtype.BinaryFormatCode, id[:15]},
		{"text", pgtype.TextFormatCode, []byte(id.String())},
		{"text null", pgtype.TextFormatCode, nil},
	}
	for _, c := range cases {
		old := pgtype.NewMap()
		want := prev
		wantErr := old.Scan(pgtype.UUIDOID, c.format, c.src, &want)
		m := pgtype.NewMap()
		registerUUIDEncoding(m)
		got := prev
		gotErr := m.Scan(pgtype.UUIDOID, c.format, c.src, &got)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: (%v, %v), scanner path (%v, %v)", c.name, got, gotErr, want, wantErr)
		}
	}
}

// BenchmarkUUIDScan is one uuid column read into a uuid.UUID (binary):
// old = pgx's sql.Scanner path, new = registerUUIDEncoding.
func BenchmarkUUIDScan(b *testing.B) {
	id := uuid.New()
	for _, name := range []string{"old", "new"} {
		b.Run(name, func(b *testing.B) {
			m := pgtype.NewMap()
			if name == "new" {
				registerUUIDEncoding(m)
			}
			plan := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, new(uuid.UUID))
			var dst uuid.UUID
			b.ReportAllocs()
			for b.Loop() {
				if err := plan.Scan(id[:], &dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
