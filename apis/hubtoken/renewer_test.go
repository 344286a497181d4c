package hubtoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/portico-dev/portico/test/framework"
)

const (
	ns = "portico-cluster-zone-a-1"
	sa = "member-agent"
)

// issuer answers TokenRequests on a fake clientset with the tokens its issue
// function makes, and records them.
type issuer struct {
	mu       sync.Mutex
	requests []*authenticationv1.TokenRequest
	at       []time.Time
	issue    func(n int, req *authenticationv1.TokenRequest) (string, error)
}

func (i *issuer) reactor(action clienttesting.Action) (bool, runtime.Object, error) {
	create, ok := action.(clienttesting.CreateAction)
	if !ok || action.GetSubresource() != "token" || action.GetNamespace() != ns ||
		create.(clienttesting.CreateActionImpl).Name != sa {
		return true, nil, fmt.Errorf("unexpected %s %s/%s in %s", action.GetVerb(), action.GetResource().Resource, action.GetSubresource(), action.GetNamespace())
	}
	req := create.GetObject().(*authenticationv1.TokenRequest)
	i.mu.Lock()
	n := len(i.requests)
	i.requests, i.at = append(i.requests, req.DeepCopy()), append(i.at, time.Now())
	i.mu.Unlock()
	token, err := i.issue(n, req)
	if err != nil {
		return true, nil, err
	}
	return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{Token: token}}, nil
}

func (i *issuer) count() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.requests)
}

// fresh issues tokens valid for the requested lifetime from now on.
func fresh(_ int, req *authenticationv1.TokenRequest) (string, error) {
	return saToken(ns, sa, time.Now(), time.Duration(ptr.Deref(req.Spec.ExpirationSeconds, 3600))*time.Second), nil
}

// persisted records what Persist was given.
type persisted struct {
	mu     sync.Mutex
	tokens []string
	fail   int // the first fail calls fail
}

func (p *persisted) persist(_ context.Context, token string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = append(p.tokens, token)
	if len(p.tokens) <= p.fail {
		return errors.New("secrets \"member-agent-hub\" is forbidden")
	}
	return nil
}

func (p *persisted) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tokens...)
}

// newRenewer is a Renewer of token with a short backoff, and its fake hub.
func newRenewer(t *testing.T, token string, o Options, iss *issuer) (*Renewer, *kubefake.Clientset) {
	t.Helper()
	r, err := New(token, o)
	if err != nil {
		t.Fatal(err)
	}
	r.backoff = wait.Backoff{Duration: 20 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 10, Cap: time.Second}
	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "serviceaccounts", iss.reactor)
	return r, kube
}

// run runs r until the test ends.
func run(t *testing.T, r *Renewer, kube kubernetes.Interface) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, kube)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestNew(t *testing.T) {
	if _, err := New("0123456789abcdef", Options{}); err == nil || !strings.Contains(err.Error(), "the hub token cannot be renewed: not a JWT") {
		t.Errorf("a static token: %v, want a clear error", err)
	}
	for _, f := range []float64{-0.1, 1, 1.5} {
		if _, err := New(saToken(ns, sa, t0, time.Hour), Options{RenewFraction: f}); err == nil {
			t.Errorf("renew fraction %v accepted", f)
		}
	}
	r, err := New(saToken(ns, sa, t0, time.Hour), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.opts.RenewFraction != DefaultRenewFraction {
		t.Errorf("renew fraction %v, want the default %v", r.opts.RenewFraction, DefaultRenewFraction)
	}
	if tok, _ := r.Token(); tok.AccessToken != saToken(ns, sa, t0, time.Hour) || !tok.Expiry.Equal(t0.Add(time.Hour)) {
		t.Errorf("Token() = %+v, want the token expiring at %v", tok, t0.Add(time.Hour))
	}
}

// TestRenewAt: a token is due at RenewFraction of its lifetime after its
// issue, plus at most 5% of that delay as jitter.
func TestRenewAt(t *testing.T) {
	for _, tc := range []struct {
		fraction, rand float64
		lifetime       time.Duration
		want           time.Duration
	}{
		{0.8, 0, 24 * time.Hour, 1152 * time.Minute},
		{0.8, 1, 24 * time.Hour, 1209*time.Minute + 36*time.Second},
		{0.8, 0.5, 10 * time.Minute, 492 * time.Second},
		{0.01, 0, 10 * time.Minute, 6 * time.Second},
	} {
		r, err := New(saToken(ns, sa, t0, tc.lifetime), Options{RenewFraction: tc.fraction})
		if err != nil {
			t.Fatal(err)
		}
		r.rand = func() float64 { return tc.rand }
		if got := r.renewAt().Sub(t0); got != tc.want {
			t.Errorf("fraction %v, jitter %v of a %v token: due %v after issue, want %v", tc.fraction, tc.rand, tc.lifetime, got, tc.want)
		}
	}
}

// TestRunRenewsWhenDue: a token past 80% of its lifetime is renewed at once,
// for its own ServiceAccount, with the same lifetime; the new token becomes
// current, is persisted and reported, and is not renewed again before it is
// due.
func TestRunRenewsWhenDue(t *testing.T) {
	old := saToken(ns, sa, time.Now().Add(-55*time.Minute), time.Hour)
	iss := &issuer{issue: fresh}
	p := &persisted{}
	var mu sync.Mutex
	var reported []Claims
	r, kube := newRenewer(t, old, Options{Persist: p.persist, OnRenew: func(c Claims) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, c)
	}}, iss)
	run(t, r, kube)

	framework.Eventually(t, 10*time.Second, "the new token persisted", func() (bool, string) {
		return len(p.calls()) == 1, fmt.Sprintf("%d requests, %d persisted", iss.count(), len(p.calls()))
	})
	iss.mu.Lock()
	req := iss.requests[0]
	iss.mu.Unlock()
	if got := ptr.Deref(req.Spec.ExpirationSeconds, 0); got != 3600 {
		t.Errorf("requested %d seconds, want the current token's lifetime 3600", got)
	}
	tok, _ := r.Token()
	if tok.AccessToken == old || tok.AccessToken != p.calls()[0] {
		t.Errorf("current token is the old one or not the persisted one")
	}
	c := r.Claims()
	if c.Lifetime() != time.Hour || time.Since(c.IssuedAt) > time.Minute {
		t.Errorf("current claims %+v, want a fresh one-hour token", c)
	}
	mu.Lock()
	if len(reported) != 1 || reported[0] != c {
		t.Errorf("OnRenew got %+v, want once the new claims %+v", reported, c)
	}
	mu.Unlock()
	// The new token is due in 48 minutes: nothing more happens meanwhile
	// (a short window proves the loop waits instead of spinning).
	time.Sleep(200 * time.Millisecond)
	if n := iss.count(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestShortTokensAskForTheMinimum: a renewal asks for at least the 10 minutes
// TokenRequest allows.
func TestShortTokensAskForTheMinimum(t *testing.T) {
	iss := &issuer{issue: fresh}
	r, kube := newRenewer(t, saToken(ns, sa, time.Now().Add(-5*time.Minute), 6*time.Minute), Options{}, iss)
	if err := r.renew(context.Background(), kube); err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(iss.requests[0].Spec.ExpirationSeconds, 0); got != 600 {
		t.Errorf("requested %d seconds, want 600", got)
	}
}

// TestRunRetriesFailuresWithBackoff: failed renewals are retried, each after a
// longer wait, until one succeeds; the old token stays current meanwhile.
func TestRunRetriesFailuresWithBackoff(t *testing.T) {
	old := saToken(ns, sa, time.Now().Add(-55*time.Minute), time.Hour)
	iss := &issuer{issue: func(n int, req *authenticationv1.TokenRequest) (string, error) {
		if n < 3 {
			return "", errors.New("connection refused")
		}
		return fresh(n, req)
	}}
	r, kube := newRenewer(t, old, Options{}, iss)
	run(t, r, kube)
	framework.Eventually(t, 10*time.Second, "a renewal after three failures", func() (bool, string) {
		tok, _ := r.Token()
		return tok.AccessToken != old, fmt.Sprintf("%d requests", iss.count())
	})
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if len(iss.at) != 4 {
		t.Fatalf("%d requests, want 4", len(iss.at))
	}
	for i, want := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := iss.at[i+1].Sub(iss.at[i]); gap < want {
			t.Errorf("retry %d came %v after the failure, want at least %v", i+1, gap, want)
		}
	}
}

// TestRunDoesNotSpinOnMalformedTokens: a hub that returns a token that is not
// a ServiceAccount JWT fails the renewal: the old token stays, and retries back
// off instead of spinning.
func TestRunDoesNotSpinOnMalformedTokens(t *testing.T) {
	old := saToken(ns, sa, time.Now().Add(-55*time.Minute), time.Hour)
	iss := &issuer{issue: func(int, *authenticationv1.TokenRequest) (string, error) { return "not-a-jwt", nil }}
	r, kube := newRenewer(t, old, Options{}, iss)
	run(t, r, kube)
	framework.Eventually(t, 10*time.Second, "three renewal attempts", func() (bool, string) {
		return iss.count() >= 3, fmt.Sprintf("%d requests", iss.count())
	})
	time.Sleep(100 * time.Millisecond)
	// 20ms, 40ms, 80ms, 160ms: at most five attempts in the first 300ms or so.
	if n := iss.count(); n > 6 {
		t.Errorf("%d renewal attempts within about 300ms: the loop spins", n)
	}
	if tok, _ := r.Token(); tok.AccessToken != old {
		t.Errorf("a malformed token replaced the current one: %q", tok.AccessToken)
	}
	if err := r.renew(context.Background(), kube); err == nil || !strings.Contains(err.Error(), "unusable token") {
		t.Errorf("renew = %v, want an error naming the unusable token", err)
	}
}

// TestPersistRetries: a failed persist is retried with backoff until it
// succeeds, while the new token is already in use.
func TestPersistRetries(t *testing.T) {
	old := saToken(ns, sa, time.Now().Add(-55*time.Minute), time.Hour)
	iss := &issuer{issue: fresh}
	p := &persisted{fail: 2}
	r, kube := newRenewer(t, old, Options{Persist: p.persist}, iss)
	run(t, r, kube)
	framework.Eventually(t, 10*time.Second, "persisted after two failures", func() (bool, string) {
		return len(p.calls()) == 3, fmt.Sprintf("%d persist calls", len(p.calls()))
	})
	tok, _ := r.Token()
	for i, got := range p.calls() {
		if got != tok.AccessToken {
			t.Errorf("persist call %d got another token than the current one", i)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(p.calls()); n != 3 {
		t.Errorf("%d persist calls after a success, want 3", n)
	}
	if n := iss.count(); n != 1 {
		t.Errorf("%d token requests, want 1: a failed persist requests no new token", n)
	}
}

// TestWrappedClientsUseTheNewestToken: clients built from a wrapped
// configuration, before or after a renewal, send the current token; the
// renewal itself authenticates with the old one.
func TestWrappedClientsUseTheNewestToken(t *testing.T) {
	old := saToken(ns, sa, time.Now().Add(-55*time.Minute), time.Hour)
	renewed := saToken(ns, sa, time.Now(), time.Hour)
	var mu sync.Mutex
	seen := map[string][]string{} // path -> Authorization headers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen[req.Method+" "+req.URL.Path] = append(seen[req.Method+" "+req.URL.Path], req.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var obj runtime.Object = &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if req.Method == http.MethodPost {
			obj = &authenticationv1.TokenRequest{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"},
				Status: authenticationv1.TokenRequestStatus{Token: renewed}}
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(obj)
	}))
	defer srv.Close()

	cfg := &rest.Config{Host: srv.URL, BearerToken: old}
	r, err := ForConfig(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BearerToken != "" {
		t.Errorf("the wrapped configuration keeps its static token")
	}
	before, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(c kubernetes.Interface) {
		t.Helper()
		if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	get(before)
	if err := r.renew(ctx, before); err != nil {
		t.Fatal(err)
	}
	get(before)
	after, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get(after)

	mu.Lock()
	defer mu.Unlock()
	want := []string{"Bearer " + old, "Bearer " + renewed, "Bearer " + renewed}
	if got := seen["GET /api/v1/namespaces/"+ns]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GETs sent %v, want %v", got, want)
	}
	if got := seen["POST /api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token"]; len(got) != 1 || got[0] != "Bearer "+old {
		t.Errorf("the TokenRequest sent %v, want the old token", got)
	}
}

// TestForConfig: configurations without a token of their own, or with one that
// cannot be renewed, are left alone.
func TestForConfig(t *testing.T) {
	for _, cfg := range []*rest.Config{
		{Host: "https://hub:6443", TLSClientConfig: rest.TLSClientConfig{CertData: []byte("cert"), KeyData: []byte("key")}},
		{Host: "https://hub:6443", BearerToken: saToken(ns, sa, t0, time.Hour), BearerTokenFile: "/var/run/token"},
	} {
		if _, err := ForConfig(cfg, Options{}); !errors.Is(err, ErrNoToken) {
			t.Errorf("ForConfig(%+v) = %v, want ErrNoToken", cfg, err)
		}
	}
	cfg := &rest.Config{Host: "https://hub:6443", BearerToken: "static"}
	if _, err := ForConfig(cfg, Options{}); err == nil || errors.Is(err, ErrNoToken) {
		t.Errorf("a static token: %v, want an error", err)
	}
	if cfg.BearerToken != "static" || cfg.WrapTransport != nil {
		t.Errorf("a failed ForConfig changed the configuration: %+v", cfg)
	}
}
