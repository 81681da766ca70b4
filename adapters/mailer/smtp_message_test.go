package mailer

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// ReadMail parses a mail as a recipient's client would: its header
// (RFC 2047 words left as sent, for the caller to check) and the decoded
// parts of its multipart/alternative body by media type, line ends as
// "\n". It fails t unless every header line is 7-bit and every part is
// UTF-8. Exported for the external tests (package mailer_test).
func ReadMail(t *testing.T, raw string) (mail.Header, map[string]string) {
	t.Helper()
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, c := range []byte(head) {
		if c >= 0x80 {
			t.Fatalf("8-bit byte in the header:\n%s", head)
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("%v:\n%s", err, raw)
	}
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ptyp, pparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || !strings.EqualFold(pparams["charset"], "UTF-8") {
			t.Fatalf("part Content-Type %q (%v), want a UTF-8 charset", p.Header.Get("Content-Type"), err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts[ptyp] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return msg.Header, parts
}

func TestSMTP_NonASCIISubjectAndSenderName_EncodedWords(t *testing.T) {
	s, stop, err := NewSMTP(SMTPConfig{Addr: "127.0.0.1:1", From: "Équipe sessiond ✓ <no-reply@example.com>"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const subject = "Réinitialisez votre mot de passe — ça expire bientôt, ça expire bientôt"
	in := Mail{Subject: subject, Text: "Grüße, Zoë\nhttps://app.example.com/reset#token=abc\n", HTML: "<p>Grüße, Zoë</p>"}
	var raw bytes.Buffer
	if _, err := s.message(&mail.Address{Address: "zoe@example.com"}, in).WriteTo(&raw); err != nil {
		t.Fatal(err)
	}
	h, parts := ReadMail(t, raw.String())
	var dec mime.WordDecoder
	if got, err := dec.DecodeHeader(h.Get("Subject")); err != nil || got != subject {
		t.Errorf("Subject decodes to %q (%v), want %q; raw %q", got, err, subject, h.Get("Subject"))
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Équipe sessiond ✓" || from[0].Address != "no-reply@example.com" {
		t.Errorf("From %q: %v %v", h.Get("From"), from, err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "zoe@example.com" {
		t.Errorf("To %q: %v %v", h.Get("To"), to, err)
	}
	if parts["text/plain"] != in.Text || parts["text/html"] != in.HTML {
		t.Errorf("parts %q, want %q and %q", parts, in.Text, in.HTML)
	}
}
