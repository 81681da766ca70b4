package postgres

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUIDEncoding lets pgx encode a google/uuid value (every id the
// generated queries take) as the 16 bytes it is. Without it pgx knows the
// type only as a driver.Valuer: each parameter became its 36-character
// text, a failed binary encode of that string (with an error formatted by
// fmt.Errorf), a text scan back into a value and finally the binary
// encode — about 4 % of the server's CPU in a refresh and 6 % in
// /auth/me (make bench, CPU profile; bench/README.md "CPU per request").
// The wrapper is tried before pgx's own (a google/uuid value has no other
// encoding), so a *uuid.UUID, a []uuid.UUID and a uuid parameter sent as
// text encode through it too; the bytes on the wire are those pgx writes
// for a pgtype.UUID, which is what the valuer path ended with.
//
// Reading is the same story backwards: a uuid column scanned into a
// uuid.UUID went through its sql.Scanner (pgx formats the 16 bytes as text,
// uuid.Parse reads them back). The uuid type registered here scans binary
// uuids into a *uuid.UUID by copying the bytes, and leaves every other
// target and format to pgx's own uuid codec, as before.
func registerUUIDEncoding(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
}

// uuidCodec is pgx's uuid codec with a direct binary scan into uuid.UUID.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return scanBinaryUUID{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type scanBinaryUUID struct{}

func (scanBinaryUUID) Scan(src []byte, dst any) error {
	if src == nil {
		return nil // as uuid.UUID's Scan(nil): NULL leaves the value as it is
	}
	if len(src) != len(uuid.UUID{}) {
		return fmt.Errorf("invalid length for UUID: %v", len(src)) // pgx's words
	}
	copy(dst.(*uuid.UUID)[:], src)
	return nil
}

func tryWrapUUIDEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if v, ok := value.(uuid.UUID); ok {
		return &wrapUUIDEncodePlan{}, pgtype.UUID{Bytes: v, Valid: true}, true
	}
	return nil, nil, false
}

type wrapUUIDEncodePlan struct{ next pgtype.EncodePlan }

func (p *wrapUUIDEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapUUIDEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgtype.UUID{Bytes: value.(uuid.UUID), Valid: true}, buf)
}
