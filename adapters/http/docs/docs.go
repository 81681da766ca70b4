// Package docs serves the interactive API documentation at /docs: Swagger UI
// from the pinned swagger-ui-dist npm package (dist/, refreshed by
// scripts/docs-assets.sh and committed like other generated code) plus a
// page and an initializer of our own (static/), all embedded in the binary.
// The page loads /openapi.yaml from the same origin; nothing is fetched from
// anywhere else, at build time or at run time.
package docs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path the documentation is served under.
const Prefix = "/docs"

// ContentSecurityPolicy is sent with every /docs response. Everything is
// denied unless listed:
//   - script-src 'self': the bundle and init.js only; no inline script, no
//     eval (the bundle does not need it);
//   - style-src 'self': the two stylesheets only; no inline <style> and no
//     style="" attributes (React sets styles through the CSSOM, which CSP
//     does not restrict, so Swagger UI needs no 'unsafe-inline');
//   - img-src 'self' data:: swagger-ui.css draws its icons as data: URIs;
//   - connect-src 'self': the spec, "Authorize" and "Try it out" can only
//     reach this origin, so no token or cookie can be sent elsewhere;
//   - form-action, base-uri 'none' and frame-ancestors 'none' close the
//     remaining ways out (forms, <base>, framing).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed dist static
var files embed.FS

type file struct {
	body        []byte
	contentType string
	etag        string
}

// index is every servable file by its name under Prefix; "" is the page.
var index = func() map[string]file {
	m := map[string]file{}
	for _, dir := range []string{"dist", "static"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			panic(err)
		}
		for _, e := range entries {
			b, err := files.ReadFile(dir + "/" + e.Name())
			if err != nil {
				panic(err)
			}
			sum := sha256.Sum256(b)
			m[e.Name()] = file{body: b, contentType: contentType(e.Name()), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		}
	}
	m[""] = m["index.html"]
	return m
}()

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".png":
		return "image/png"
	default: // LICENSE, NOTICE, VERSION, *.txt
		return "text/plain; charset=utf-8"
	}
}

// Handler serves GET and HEAD for /docs, /docs/ and the files under /docs/.
// Other paths and methods are handed to onError with 404 or 405, so the
// caller answers them in its own error format.
func Handler(onError func(w http.ResponseWriter, r *http.Request, status int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")

		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if ok && name != "" {
			name, ok = strings.CutPrefix(name, "/")
		}
		f, found := index[name]
		if !ok || !found {
			onError(w, r, http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			onError(w, r, http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
