// Package manifests holds Portico's install manifests. The member-agent's
// (manifests/member-agent) are Go text/templates, embedded here and rendered by
// `kubectl portico join` for one member cluster; so are an edge node's
// (manifests/lb-agent/edge), rendered by `kubectl portico join-edge`.
package manifests

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Names of what the member-agent manifest installs in a member cluster.
const (
	// MemberAgentNamespace is the member-agent's namespace in the member cluster.
	MemberAgentNamespace = "portico-system"
	// MemberAgentName names its Deployment and ServiceAccount.
	MemberAgentName = "member-agent"
	// MemberAgentHubSecret is the Secret holding the hub kubeconfig, under
	// MemberAgentHubKubeconfigKey.
	MemberAgentHubSecret        = "member-agent-hub"
	MemberAgentHubKubeconfigKey = "kubeconfig"
	// MemberAgentClusterRole names the member-agent's ClusterRole and
	// ClusterRoleBinding, and its Role and RoleBinding in istio-system.
	MemberAgentClusterRole = "portico:member-agent"
	// DefaultMemberAgentImage is the image when MemberAgentValues.Image is empty.
	DefaultMemberAgentImage = "portico/member-agent:latest"
)

//go:embed member-agent/*.yaml.tmpl
var memberAgentFS embed.FS

const memberAgentDir = "member-agent"

// MemberAgentValues are the inputs of the member-agent manifest.
type MemberAgentValues struct {
	// ClusterName is the MemberCluster's name (a DNS label). Required.
	ClusterName string
	// Image of the member-agent (default DefaultMemberAgentImage).
	Image string
	// HubKubeconfig is the kubeconfig the agent uses to reach the hub cluster
	// (its ServiceAccount's token). Required.
	HubKubeconfig []byte
	// GatewayNamespace is the MemberCluster's spec.gatewayNamespace (default
	// DefaultGatewayNamespace): the only namespace where the agent may write
	// Secrets (the certificates it delivers).
	GatewayNamespace string
}

// DefaultGatewayNamespace is MemberAgentValues.GatewayNamespace when empty.
const DefaultGatewayNamespace = "istio-system"

// templateFuncs are the functions of the embedded templates.
var templateFuncs = template.FuncMap{
	// quote renders a YAML double-quoted scalar (JSON strings are YAML).
	"quote": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
	"b64enc":    func(b []byte) string { return base64.StdEncoding.EncodeToString(b) },
	"sha256sum": func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) },
}

var memberAgentTemplates = template.Must(template.New(memberAgentDir).
	Option("missingkey=error").
	Funcs(templateFuncs).
	ParseFS(memberAgentFS, memberAgentDir+"/*.yaml.tmpl"))

// MemberAgentTemplateNames lists the member-agent templates in the order they
// are rendered (their file names sort in install order).
func MemberAgentTemplateNames() []string { return templateNames(memberAgentFS, memberAgentDir) }

// templateNames lists the templates of dir in fsys, sorted.
func templateNames(fsys fs.FS, dir string) []string {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// RenderMemberAgent writes the member-agent's install manifest for one member
// cluster to w: a multi-document YAML stream (namespace portico-system, the
// ServiceAccount, RBAC, the hub kubeconfig Secret and the Deployment).
func RenderMemberAgent(w io.Writer, v MemberAgentValues) error {
	if errs := validation.IsDNS1123Label(v.ClusterName); len(errs) > 0 {
		return fmt.Errorf("member-agent manifest: invalid cluster name %q: %s", v.ClusterName, strings.Join(errs, "; "))
	}
	if len(v.HubKubeconfig) == 0 {
		return errors.New("member-agent manifest: the hub kubeconfig is required")
	}
	if v.Image == "" {
		v.Image = DefaultMemberAgentImage
	}
	if v.GatewayNamespace == "" {
		v.GatewayNamespace = DefaultGatewayNamespace
	}
	if errs := validation.IsDNS1123Label(v.GatewayNamespace); len(errs) > 0 {
		return fmt.Errorf("member-agent manifest: invalid gateway namespace %q: %s", v.GatewayNamespace, strings.Join(errs, "; "))
	}
	if strings.ContainsAny(v.Image, " \t\r\n") {
		return fmt.Errorf("member-agent manifest: invalid image %q", v.Image)
	}
	return render(w, memberAgentTemplates, memberAgentDir, MemberAgentTemplateNames(), v, "member-agent manifest")
}

// render executes the templates names of t with v into one YAML stream.
func render(w io.Writer, t *template.Template, dir string, names []string, v any, what string) error {
	var buf bytes.Buffer
	for i, name := range names {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if err := t.ExecuteTemplate(&buf, name, v); err != nil {
			return fmt.Errorf("%s: %s: %w", what, path.Join(dir, name), err)
		}
		if buf.Len() > 0 && buf.Bytes()[buf.Len()-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// DefaultLBAgentImage is the image when LBAgentNodeValues.Image is empty.
const DefaultLBAgentImage = "portico/lb-agent:latest"

//go:embed lb-agent/edge/*.yaml.tmpl
var lbAgentNodeFS embed.FS

const lbAgentNodeDir = "lb-agent/edge"

var lbAgentNodeTemplates = template.Must(template.New(lbAgentNodeDir).
	Option("missingkey=error").
	Funcs(templateFuncs).
	ParseFS(lbAgentNodeFS, lbAgentNodeDir+"/*.yaml.tmpl"))

// LBAgentNodeValues are the inputs of an edge node's lb-agent manifest.
type LBAgentNodeValues struct {
	// Node is the LoadBalancerNode's name, which is also the Kubernetes node
	// (kubernetes.io/hostname) the agent runs on. Required.
	Node string
	// Group is the node's LoadBalancerGroup. Required.
	Group string
	// Address is the node's IPv4 address (BGP next hop, IPIP source). Required.
	Address string
	// Image of the lb-agent (default DefaultLBAgentImage).
	Image string
	// HubKubeconfig holds the token of the node's own ServiceAccount. Required.
	HubKubeconfig []byte
}

// RenderLBAgentNode writes the lb-agent manifest of one edge node to w: the
// namespace portico-system, the Secret lb-agent-hub-<node> with the node's hub
// kubeconfig, the ServiceAccount lb-agent-<node> that may rewrite only that
// Secret, and the DaemonSet lb-agent-<node> pinned to that node.
func RenderLBAgentNode(w io.Writer, v LBAgentNodeValues) error {
	if errs := validation.IsDNS1123Subdomain("lb-agent-hub-" + v.Node); v.Node == "" || len(errs) > 0 {
		return fmt.Errorf("lb-agent manifest: invalid node name %q: %s", v.Node, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(v.Group); len(errs) > 0 {
		return fmt.Errorf("lb-agent manifest: invalid group %q: %s", v.Group, strings.Join(errs, "; "))
	}
	if a, err := netip.ParseAddr(v.Address); err != nil || !a.Is4() {
		return fmt.Errorf("lb-agent manifest: invalid address %q: must be an IPv4 address", v.Address)
	}
	if len(v.HubKubeconfig) == 0 {
		return errors.New("lb-agent manifest: the hub kubeconfig is required")
	}
	if v.Image == "" {
		v.Image = DefaultLBAgentImage
	}
	if strings.ContainsAny(v.Image, " \t\r\n") {
		return fmt.Errorf("lb-agent manifest: invalid image %q", v.Image)
	}
	return render(w, lbAgentNodeTemplates, lbAgentNodeDir, templateNames(lbAgentNodeFS, lbAgentNodeDir), v, "lb-agent manifest")
}
