package hubtoken

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// jwt returns an unsigned-looking JWT with the given claims (the signature is
// never checked).
func jwt(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"test"}`))
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2lnbmF0dXJl"
}

// saToken is a token of ServiceAccount ns/name issued at iat for lifetime, as
// kube-apiserver's TokenRequest issues it.
func saToken(ns, name string, iat time.Time, lifetime time.Duration) string {
	return jwt(map[string]any{
		"aud": []string{"https://kubernetes.default.svc"}, "iss": "https://kubernetes.default.svc",
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(lifetime).Unix(),
		"sub":           "system:serviceaccount:" + ns + ":" + name,
		"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name, "uid": "0c4e"}},
	})
}

var t0 = time.Unix(1772366400, 0) // 2026-03-01T12:00:00Z

func TestParse(t *testing.T) {
	payload := func(s string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(s)) + ".c2ln"
	}
	for _, tc := range []struct {
		name    string
		token   string
		want    Claims
		wantErr string
	}{
		{name: "TokenRequest token", token: saToken("portico-cluster-zone-a-1", "member-agent", t0, 24*time.Hour),
			want: Claims{IssuedAt: t0, Expires: t0.Add(24 * time.Hour), Namespace: "portico-cluster-zone-a-1", ServiceAccount: "member-agent"}},
		{name: "ServiceAccount only in the subject",
			token: jwt(map[string]any{"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "sub": "system:serviceaccount:portico-edge:lb-agent-edge-a-1"}),
			want:  Claims{IssuedAt: t0, Expires: t0.Add(time.Hour), Namespace: "portico-edge", ServiceAccount: "lb-agent-edge-a-1"}},
		{name: "static token", token: "0123456789abcdef", wantErr: "not a JWT: 1 dot-separated parts"},
		{name: "payload not base64", token: "a.b*c.d", wantErr: "payload is not base64url"},
		{name: "payload not JSON", token: payload("[1,2"), wantErr: "not a JSON object of claims"},
		{name: "legacy token without expiry", token: payload(`{"sub":"system:serviceaccount:a:b"}`), wantErr: "no iat or no exp claim"},
		{name: "expiry before issue", token: payload(`{"iat":100,"exp":100,"sub":"system:serviceaccount:a:b"}`), wantErr: "exp 100 is not after its iat 100"},
		{name: "a user's token", token: payload(`{"iat":100,"exp":200,"sub":"alice"}`), wantErr: `not a ServiceAccount token: subject "alice"`},
		{name: "subject without a name", token: payload(`{"iat":100,"exp":200,"sub":"system:serviceaccount:a"}`), wantErr: "not a ServiceAccount token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse = %+v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.IssuedAt.Equal(tc.want.IssuedAt) || !got.Expires.Equal(tc.want.Expires) ||
				got.Namespace != tc.want.Namespace || got.ServiceAccount != tc.want.ServiceAccount {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	c, err := Parse(saToken("ns", "sa", t0, 10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Lifetime(); got != 10*time.Minute {
		t.Errorf("Lifetime = %v, want 10m", got)
	}
}
