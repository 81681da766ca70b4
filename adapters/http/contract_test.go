package http_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every response an HTTP test receives is validated against openapi.yaml
// (status, headers, body, errors included) because every request goes
// through h.do. This keeps it that way: a test file that
// sends requests some other way fails here, so no response escapes the
// contract check.
func TestContract_EveryRequestGoesThroughTheValidatingHarness(t *testing.T) {
	validating := map[string]bool{"harness_test.go": true}
	raw := regexp.MustCompile(`\.client\.Do\(|\.Client\(\)\.Do\(|http\.(Get|Post|Head|PostForm)\(|http\.DefaultClient|\.RoundTrip\(`)
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if validating[f] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if raw.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d sends a request without the contract check; use h.do: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
