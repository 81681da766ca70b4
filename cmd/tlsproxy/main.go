// Command tlsproxy is the TLS-terminating reverse proxy of the browser
// tests (scripts/clients-matrix.sh browser): it stands for the load
// balancer in front of sessiond in production, so that the tests run the
// server as it is deployed (Secure cookies, __Host- names, TRUSTED_PROXIES)
// and Chromium sees real https:// origins.
//
// At start it makes a throw-away ECDSA key and a self-signed certificate
// for the given host names (nothing is downloaded or kept), writes the
// base64 SHA-256 of the certificate's public key (for Chromium's
// --ignore-certificate-errors-spki-list) to -spki-out, and routes each
// request by Host and path prefix (-route host/prefix=http://backend, the
// longest prefix wins) with net/http/httputil.ReverseProxy, keeping the
// Host header and setting X-Forwarded-For, -Host and -Proto. It listens on
// loopback only and prints "listening on ADDR" once ready.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

type routes []route

type route struct {
	host, prefix string
	target       *url.URL
}

func (r *routes) String() string { return fmt.Sprint(*r) }

// Set parses host[/prefix]=http://backend.
func (r *routes) Set(v string) error {
	from, to, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("route %q: want host[/prefix]=http://backend", v)
	}
	host, prefix, _ := strings.Cut(from, "/")
	u, err := url.Parse(to)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("route %q: backend must be http://host:port", v)
	}
	*r = append(*r, route{host: strings.ToLower(host), prefix: "/" + prefix, target: u})
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	hosts := flag.String("hosts", "", "comma-separated DNS names of the certificate (wildcards like *.example.test allowed)")
	spkiOut := flag.String("spki-out", "", "file to write the base64 SHA-256 of the certificate's SubjectPublicKeyInfo to")
	var rs routes
	flag.Var(&rs, "route", "host[/prefix]=http://backend (repeatable)")
	flag.Parse()
	if err := run(*listen, *hosts, *spkiOut, rs); err != nil {
		log.Fatalf("tlsproxy: %v", err)
	}
}

func run(listen, hosts, spkiOut string, rs routes) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: loopback addresses only", listen)
	}
	if hosts == "" || len(rs) == 0 {
		return errors.New("-hosts and at least one -route are required")
	}
	cert, spki, err := selfSigned(strings.Split(hosts, ","))
	if err != nil {
		return err
	}
	if spkiOut != "" {
		if err := os.WriteFile(spkiOut, []byte(spki+"\n"), 0o600); err != nil {
			return err
		}
	}
	// Longest prefix first, so /api wins over / on the same host.
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	proxies := make([]*httputil.ReverseProxy, len(rs))
	for i, r := range rs {
		target := r.target
		proxies[i] = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host // the backend sees the name the browser used
				pr.SetXForwarded()
			},
			ErrorLog: log.New(os.Stderr, "tlsproxy: ", 0),
		}
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := strings.ToLower(req.Host)
		if hn, _, err := net.SplitHostPort(h); err == nil {
			h = hn
		}
		for i, r := range rs {
			if r.host == h && (r.prefix == "/" || req.URL.Path == r.prefix || strings.HasPrefix(req.URL.Path, r.prefix+"/")) {
				proxies[i].ServeHTTP(w, req)
				return
			}
		}
		http.Error(w, "tlsproxy: no route for "+req.Host+req.URL.Path, http.StatusBadGateway)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-done
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned makes a one-day certificate for names and returns it with the
// base64 SHA-256 of its SubjectPublicKeyInfo.
func selfSigned(names []string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sessiond browser tests"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, base64.StdEncoding.EncodeToString(sum[:]), nil
}
