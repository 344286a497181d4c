// Package manifests holds Portico's install manifests. The member-agent's
// (manifests/member-agent) are Go text/templates, embedded here and rendered by
// `kubectl portico join` for one member cluster.
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
}

var memberAgentTemplates = template.Must(template.New(memberAgentDir).
	Option("missingkey=error").
	Funcs(template.FuncMap{
		// quote renders a YAML double-quoted scalar (JSON strings are YAML).
		"quote": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		},
		"b64enc":    func(b []byte) string { return base64.StdEncoding.EncodeToString(b) },
		"sha256sum": func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) },
	}).
	ParseFS(memberAgentFS, memberAgentDir+"/*.yaml.tmpl"))

// MemberAgentTemplateNames lists the member-agent templates in the order they
// are rendered (their file names sort in install order).
func MemberAgentTemplateNames() []string {
	entries, err := fs.ReadDir(memberAgentFS, memberAgentDir)
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
	if strings.ContainsAny(v.Image, " \t\r\n") {
		return fmt.Errorf("member-agent manifest: invalid image %q", v.Image)
	}
	var buf bytes.Buffer
	for i, name := range MemberAgentTemplateNames() {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if err := memberAgentTemplates.ExecuteTemplate(&buf, name, v); err != nil {
			return fmt.Errorf("member-agent manifest: %s: %w", path.Join(memberAgentDir, name), err)
		}
		if buf.Len() > 0 && buf.Bytes()[buf.Len()-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
