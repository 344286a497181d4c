package localfed

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ControllerManagerUser is the identity kube-controller-manager authenticates as
// (a client certificate from the cluster CA). kube-apiserver's bootstrap RBAC
// policy binds it to the ClusterRole system:kube-controller-manager, which lets
// it create the ServiceAccounts of its controllers in kube-system and get
// tokens for them: with --use-service-account-credentials each controller then
// acts with its own role (system:controller:namespace-controller, ...), as in a
// kubeadm cluster.
const ControllerManagerUser = "system:kube-controller-manager"

// ControllerManagerControllers are the controllers kube-controller-manager runs
// beside every kube-apiserver started here: what a Portico hub cluster relies on
// and what is cheap without nodes or pods.
//
//   - namespace-controller: a deleted namespace is emptied (also of Portico's
//     aggregated resources) and removed, instead of staying Terminating; the hub
//     deletes a removed member cluster's namespace this way.
//   - garbage-collector-controller: objects go away with their owners
//     (ownerReferences, foreground and orphan deletion).
//   - clusterrole-aggregation-controller: the built-in admin, edit and view
//     ClusterRoles receive the rules of roles labelled aggregate-to-* (Portico's
//     manifests/hub/aggregated-roles.yaml), so binding "edit" grants Portico's
//     resources.
//   - serviceaccount-controller: every namespace gets its "default"
//     ServiceAccount, as tools expect.
//   - serviceaccount-token-controller: legacy token Secrets (type
//     kubernetes.io/service-account-token) are filled in, for users who create
//     long-lived agent credentials that way.
//
// Not run: root-ca-certificate-publisher-controller (no pods mount
// kube-root-ca.crt here, nothing else reads it), and every controller of pods,
// nodes, workloads, volumes, endpoints or certificates (nothing runs them).
var ControllerManagerControllers = []string{
	"namespace-controller",
	"garbage-collector-controller",
	"clusterrole-aggregation-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
}

// startControllerManager starts kube-controller-manager beside the cluster's
// kube-apiserver, as ControllerManagerUser, on 127.0.0.1 with a free secure
// port (retried when another process takes it first), and waits for its
// /healthz.
func (h *HubCluster) startControllerManager(ctx context.Context, timeout time.Duration, detach bool) error {
	pki := filepath.Join(h.Dir, "pki")
	kubeconfig := filepath.Join(h.Dir, "controller-manager.kubeconfig")
	certPEM, keyPEM, err := h.ClientCA.IssueClient(ControllerManagerUser, nil)
	if err != nil {
		return err
	}
	if err := writeKubeconfig(kubeconfig, h.URL, h.ClientCA.CertPEM, ControllerManagerUser, certPEM, keyPEM); err != nil {
		return err
	}
	if certPEM, keyPEM, err = h.ClientCA.IssueServing("kube-controller-manager", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}); err != nil {
		return err
	}
	servingCert, servingKey := filepath.Join(pki, "controller-manager.crt"), filepath.Join(pki, "controller-manager.key")
	if err := WritePEMFiles(servingCert, certPEM, servingKey, keyPEM); err != nil {
		return err
	}
	logPath := filepath.Join(h.Dir, "kube-controller-manager.log")
	for attempt := 0; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		args := []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + servingCert,
			"--tls-private-key-file=" + servingKey,
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--controllers=" + strings.Join(ControllerManagerControllers, ","),
			"--service-account-private-key-file=" + filepath.Join(pki, "sa.key"),
			"--root-ca-file=" + filepath.Join(pki, "ca.crt"),
			// Namespace deletion lists and deletes every resource type: the
			// default 20 QPS makes it take seconds.
			"--kube-api-qps=100",
			"--kube-api-burst=200",
		}
		logOffset := fileSize(logPath)
		p, err := StartProcess(ProcessOptions{
			Name:    "kube-controller-manager",
			Path:    filepath.Join(h.BinDir, KubeControllerManagerBinary),
			Args:    args,
			LogPath: logPath,
			Detach:  detach,
		})
		if err != nil {
			return err
		}
		h.ControllerManager, h.ControllerManagerPID, h.ControllerManagerPort = p, p.PID, port
		waitErr := WaitUntil(ctx, timeout, h.controllerManagerHealthy, p)
		if waitErr == nil {
			return nil
		}
		_ = p.Stop()
		h.ControllerManager, h.ControllerManagerPID = nil, 0
		err = fmt.Errorf("kube-controller-manager did not become healthy: %w\n--- %s (tail) ---\n%s", waitErr, logPath, p.LogTail(40))
		if attempt >= 2 || !logSinceContains(logPath, logOffset, "address already in use") {
			return err
		}
	}
}

// controllerManagerHealthy checks kube-controller-manager's /healthz (always
// allowed without credentials), verifying its serving certificate.
func (h *HubCluster) controllerManagerHealthy(ctx context.Context) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.ClientCA.CertPool(), ServerName: "localhost"}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.ControllerManagerURL()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s: %s", resp.Status, lastLines(string(body), 8))
	}
	return nil
}

// ControllerManagerURL is kube-controller-manager's secure address
// (https://127.0.0.1:<ControllerManagerPort>; /healthz needs no credentials).
func (h *HubCluster) ControllerManagerURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(h.ControllerManagerPort)
}
