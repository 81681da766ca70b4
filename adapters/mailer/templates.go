package mailer

import (
	"bytes"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/sessiond/sessiond/core"
)

// The one template set of every mail the service sends (password reset,
// email verification, invitation): each mail is a subject, a text body and
// an HTML body made from the same data, text/template for the text and
// html/template (contextual escaping) for the HTML.

// Links are the URLs mailed to users, each with "{token}" replaced by the
// mail's token (e.g. https://app.example.com/reset#token={token}). An
// empty one mails the bare token as a code instead.
type Links struct {
	Reset, Verify, Invite string
}

// Mail is one rendered mail.
type Mail struct {
	Subject, Text, HTML string
}

// mailData is what the templates see. Link is the URL with the token, or
// "" (then Code is the bare token).
type mailData struct {
	Link, Code string
	Expires    string
	Role       string
	HasAccount bool
}

type mailTemplate struct {
	subject string
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

func newTemplate(subject, text, html string) mailTemplate {
	return mailTemplate{
		subject: subject,
		text:    texttemplate.Must(texttemplate.New(subject).Parse(text)),
		html:    htmltemplate.Must(htmltemplate.New(subject).Parse(html)),
	}
}

const htmlHead = `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">`
const htmlFoot = `</body></html>`

var (
	resetTemplate = newTemplate("Reset your password",
		`Someone asked to reset the password of the account registered with this address.

{{if .Link}}To choose a new password, open this link:

{{.Link}}
{{else}}To choose a new password, use this reset code:

{{.Code}}
{{end}}
It can be used once and expires at {{.Expires}}.
Setting a new password signs you out everywhere.

If you did not ask for this, ignore this mail: your password stays as it is.
`,
		htmlHead+`<p>Someone asked to reset the password of the account registered with this address.</p>
{{if .Link}}<p><a href="{{.Link}}">Choose a new password</a></p>{{else}}<p>To choose a new password, use this reset code: <code>{{.Code}}</code></p>{{end}}
<p>It can be used once and expires at {{.Expires}}. Setting a new password signs you out everywhere.</p>
<p>If you did not ask for this, ignore this mail: your password stays as it is.</p>`+htmlFoot)

	verifyTemplate = newTemplate("Verify your email address",
		`Someone registered an account with this address.

{{if .Link}}To confirm it is yours, open this link:

{{.Link}}
{{else}}To confirm it is yours, use this verification code:

{{.Code}}
{{end}}
It can be used once and expires at {{.Expires}}. Until then the account cannot sign in;
after it, the registration is dropped and the address is free again.

If you did not register, ignore this mail.
`,
		htmlHead+`<p>Someone registered an account with this address.</p>
{{if .Link}}<p><a href="{{.Link}}">Confirm this address</a></p>{{else}}<p>To confirm it is yours, use this verification code: <code>{{.Code}}</code></p>{{end}}
<p>It can be used once and expires at {{.Expires}}. Until then the account cannot sign in; after it, the registration is dropped and the address is free again.</p>
<p>If you did not register, ignore this mail.</p>`+htmlFoot)

	inviteTemplate = newTemplate("You are invited to join an account",
		`You are invited to join an account as {{.Role}}.

{{if .HasAccount}}This address already has an account in this service, and an address can
belong to one account only, so this invitation cannot be accepted with it.
Sign in with your existing account, or ask the owner who invited you to
invite another of your addresses (or to have your existing account removed
first).
{{else}}{{if .Link}}To accept, choose your name and password here:

{{.Link}}
{{else}}To accept, use this invitation code:

{{.Code}}
{{end}}
The invitation can be used once and expires at {{.Expires}}.
{{end}}
If you did not expect this, ignore this mail.
`,
		htmlHead+`<p>You are invited to join an account as {{.Role}}.</p>
{{if .HasAccount}}<p>This address already has an account in this service, and an address can belong to one account only, so this invitation cannot be accepted with it. Sign in with your existing account, or ask the owner who invited you to invite another of your addresses (or to have your existing account removed first).</p>
{{else}}{{if .Link}}<p><a href="{{.Link}}">Accept the invitation</a></p>{{else}}<p>To accept, use this invitation code: <code>{{.Code}}</code></p>{{end}}
<p>The invitation can be used once and expires at {{.Expires}}.</p>{{end}}
<p>If you did not expect this, ignore this mail.</p>`+htmlFoot)
)

func (t mailTemplate) render(d mailData) (Mail, error) {
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, d); err != nil {
		return Mail{}, err
	}
	if err := t.html.Execute(&html, d); err != nil {
		return Mail{}, err
	}
	return Mail{Subject: t.subject, Text: text.String(), HTML: html.String()}, nil
}

func link(tmpl, token string) string {
	if tmpl == "" {
		return ""
	}
	return strings.ReplaceAll(tmpl, "{token}", token)
}

func data(linkTmpl, token string, expires time.Time) mailData {
	d := mailData{Link: link(linkTmpl, token), Expires: expires.UTC().Format(time.RFC1123)}
	if d.Link == "" {
		d.Code = token
	}
	return d
}

// RenderPasswordReset, RenderVerification and RenderInvitation render the
// service's three mails.
func RenderPasswordReset(l Links, token string, expires time.Time) (Mail, error) {
	return resetTemplate.render(data(l.Reset, token, expires))
}

func RenderVerification(l Links, token string, expires time.Time) (Mail, error) {
	return verifyTemplate.render(data(l.Verify, token, expires))
}

func RenderInvitation(l Links, m core.InvitationMail) (Mail, error) {
	d := data(l.Invite, m.Token, m.ExpiresAt)
	d.Role, d.HasAccount = string(m.Role), m.HasAccount
	if m.HasAccount {
		d.Link, d.Code = "", "" // a link that cannot work is not mailed
	}
	return inviteTemplate.render(d)
}
