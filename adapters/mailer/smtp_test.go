package mailer_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/adapters/mailer"
)

// fakeSMTP is a minimal SMTP server on loopback (no STARTTLS, no AUTH) that
// hands each received message to msgs.
func fakeSMTP(t *testing.T) (addr string, msgs <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSMTP(conn, out)
		}
	}()
	return ln.Addr().String(), out
}

func serveSMTP(conn net.Conn, out chan<- string) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	say := func(s string) { _, _ = io.WriteString(conn, s+"\r\n") }
	say("220 fake ESMTP")
	var envelope []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"), strings.HasPrefix(cmd, "RCPT TO:"):
			envelope = append(envelope, strings.TrimSpace(line))
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			out <- strings.Join(envelope, "\n") + "\n\n" + data.String()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestSMTP_DeliversResetMailWithLink_NeverLogsToken(t *testing.T) {
	addr, msgs := fakeSMTP(t)
	var logs bytes.Buffer
	m, stop, err := mailer.NewSMTP(mailer.SMTPConfig{
		Addr: addr, From: "sessiond <no-reply@example.com>",
		ResetURL: "https://app.example.com/reset#token={token}", Timeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	exp := time.Date(2031, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := m.SendPasswordReset(context.Background(), "alice@example.com", token, exp); err != nil {
		t.Fatal(err)
	}
	var got string
	select {
	case got = <-msgs:
	case <-time.After(5 * time.Second):
		t.Fatal("no mail delivered")
	}
	stop()
	for _, want := range []string{
		"MAIL FROM:<no-reply@example.com>", "RCPT TO:<alice@example.com>",
		"To: alice@example.com", "Subject: Reset your password",
		"https://app.example.com/reset#token=" + token, "Sat, 01 Mar 2031 09:30:00 UTC",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("mail lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("token in logs: %s", logs.String())
	}
}

func TestSMTP_RefusesHeaderInjectionInRecipient(t *testing.T) {
	m, stop, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: "127.0.0.1:1", From: "no-reply@example.com"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, to := range []string{"a@example.com\r\nBcc: b@example.com", "Alice <a@example.com>", "not an address"} {
		if err := m.SendPasswordReset(context.Background(), to, "t", time.Now()); err == nil {
			t.Errorf("recipient %q accepted", to)
		}
	}
}

func TestLog_NeverLogsToken(t *testing.T) {
	var logs bytes.Buffer
	m := mailer.NewLog(slog.New(slog.NewTextHandler(&logs, nil)))
	if err := m.SendPasswordReset(context.Background(), "bob@example.com", "secret-token-value", time.Now()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "secret-token-value") || !strings.Contains(logs.String(), "bob@example.com") {
		t.Errorf("log line: %s", logs.String())
	}
}
