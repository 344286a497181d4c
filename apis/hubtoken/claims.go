package hubtoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// serviceAccountPrefix starts the subject of every ServiceAccount token.
const serviceAccountPrefix = "system:serviceaccount:"

// Claims are what a Renewer reads of a ServiceAccount token.
type Claims struct {
	// IssuedAt and Expires are the token's iat and exp claims.
	IssuedAt, Expires time.Time
	// Namespace and ServiceAccount name whose token it is.
	Namespace, ServiceAccount string
}

// Lifetime is how long the token is valid from its issue.
func (c Claims) Lifetime() time.Duration { return c.Expires.Sub(c.IssuedAt) }

// jwtClaims are the claims of a ServiceAccount JWT that Parse reads.
type jwtClaims struct {
	IssuedAt   *int64 `json:"iat"`
	Expires    *int64 `json:"exp"`
	Subject    string `json:"sub"`
	Kubernetes struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

// Parse reads the lifetime and the ServiceAccount of a ServiceAccount token
// (a JWT from the TokenRequest API) without verifying its signature: the
// token is the agent's own, and the claims only schedule its renewal. A token
// without iat and exp (a legacy Secret-based token, which never expires) or
// of another subject is an error.
func Parse(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("not a JWT: %d dot-separated parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("not a JWT: payload is not base64url: %w", err)
	}
	var jc jwtClaims
	if err := json.Unmarshal(payload, &jc); err != nil {
		return Claims{}, fmt.Errorf("not a JWT: payload is not a JSON object of claims: %w", err)
	}
	if jc.IssuedAt == nil || jc.Expires == nil {
		return Claims{}, errors.New("the token has no iat or no exp claim (a token that never expires is not renewed)")
	}
	c := Claims{IssuedAt: time.Unix(*jc.IssuedAt, 0), Expires: time.Unix(*jc.Expires, 0),
		Namespace: jc.Kubernetes.Namespace, ServiceAccount: jc.Kubernetes.ServiceAccount.Name}
	if !c.Expires.After(c.IssuedAt) {
		return Claims{}, fmt.Errorf("the token's exp %d is not after its iat %d", *jc.Expires, *jc.IssuedAt)
	}
	if c.Namespace == "" || c.ServiceAccount == "" {
		// Tokens of older clusters name the ServiceAccount only in the subject.
		ns, name, ok := strings.Cut(strings.TrimPrefix(jc.Subject, serviceAccountPrefix), ":")
		if !strings.HasPrefix(jc.Subject, serviceAccountPrefix) || !ok || ns == "" || name == "" {
			return Claims{}, fmt.Errorf("not a ServiceAccount token: subject %q", jc.Subject)
		}
		c.Namespace, c.ServiceAccount = ns, name
	}
	return c, nil
}
