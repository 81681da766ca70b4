package postgres

import (
	"github.com/jackc/pgx/v5/pgtype"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// registerUUIDEncoding teaches a connection's type map google/uuid (every
// id the generated queries take and return), with the pgx integration
// package made for it. Without it pgx knows uuid.UUID only as a
// driver.Valuer and an sql.Scanner: each parameter became its 36-character
// text, a failed binary encode of that string (an error formatted by
// fmt.Errorf), a text scan back and finally the binary encode, and each
// column read was formatted as text and parsed back — about 4 % of the
// server's CPU in a refresh and 6 % in /auth/me (make bench, CPU profile;
// bench/README.md "CPU per request"). With it both ways are the 16 bytes.
func registerUUIDEncoding(m *pgtype.Map) { pgxuuid.Register(m) }
