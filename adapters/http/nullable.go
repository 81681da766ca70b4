package http

import "github.com/oapi-codegen/nullable"

// nullableString maps "" to JSON null. Required nullable fields must be set
// explicitly: an unset nullable.Nullable serialises as the zero value.
func nullableString(v string) nullable.Nullable[string] {
	if v == "" {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(v)
}
