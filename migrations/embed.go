// Package migrations holds the versioned SQL migrations (goose format),
// embedded into the binary and applied by its migrate command.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
