package http

import (
	"net/netip"

	"github.com/oapi-codegen/nullable"
)

// nullableString maps "" to JSON null. Required nullable fields must be set
// explicitly: an unset nullable.Nullable serialises as the zero value.
func nullableString(v string) nullable.Nullable[string] {
	if v == "" {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(v)
}

// nullableAddr maps an unknown (zero) address to JSON null.
func nullableAddr(a netip.Addr) nullable.Nullable[string] {
	if !a.IsValid() {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(a.String())
}

// pageParams reads a list operation's optional limit and cursor: absent is
// 0 (the service's default page size) and "" (the first page).
func pageParams(limit *int, cursor *string) (int, string) {
	l, c := 0, ""
	if limit != nil {
		l = *limit
	}
	if cursor != nil {
		c = *cursor
	}
	return l, c
}
