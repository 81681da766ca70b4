// Package sessiond holds the service contract. The OpenAPI document at the
// repository root is the source of truth for the HTTP API; it is embedded
// here so the server can serve exactly the spec it was built from.
package sessiond

import _ "embed"

// OpenAPIYAML is openapi.yaml, byte for byte.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
