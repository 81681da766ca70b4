package postgres

import (
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
func registerUUIDEncoding(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
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
