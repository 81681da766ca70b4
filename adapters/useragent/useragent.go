// Package useragent derives human device names ("Firefox on Linux") from
// User-Agent headers with ua-parser (github.com/ua-parser/uap-go), the Go
// port of the ua-parser project whose uap-core regexes are maintained
// upstream and regenerated into the package.
package useragent

import (
	"strings"

	uap "github.com/ua-parser/uap-go/uaparser"

	"github.com/sessiond/sessiond/core"
)

// Namer names devices. Safe for concurrent use.
type Namer struct {
	p *uap.Parser
}

// New compiles the embedded ua-parser definitions (tens of milliseconds;
// do it once per process).
func New() (*Namer, error) {
	p, err := uap.New(uap.WithCacheSize(1024))
	if err != nil {
		return nil, err
	}
	return &Namer{p: p}, nil
}

// DeviceNamer returns n as a core.DeviceNamer.
func (n *Namer) DeviceNamer() core.DeviceNamer { return n.Name }

// maxUserAgent bounds the parser's input; the HTTP layer already truncates
// user agents to 512 bytes.
const maxUserAgent = 512

// Name returns "Browser on OS" ("Firefox on Linux", "Chrome Mobile on
// Android"), just the browser or just the OS when only one is known, and ""
// when neither is.
func (n *Namer) Name(userAgent string) string {
	userAgent = strings.TrimSpace(userAgent)
	if userAgent == "" {
		return ""
	}
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	c := n.p.Parse(userAgent)
	browser, os := known(c.UserAgent.Family), known(c.Os.Family)
	if os == "Mac OS X" {
		os = "macOS" // ua-parser keeps the historical name
	}
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	default:
		return os
	}
}

func known(family string) string {
	if family == "Other" {
		return ""
	}
	return family
}
