// Package framework starts real Kubernetes control-plane processes (etcd and
// kube-apiserver built from source by hack/build-kube.sh) for Portico's
// integration tests and for the long-lived local federation of `make up`.
//
// Everything runs on 127.0.0.1 with ports chosen at start-up; all files (PKI,
// token file, kubeconfigs, data and logs) live under one directory chosen by the
// caller. Test code normally uses the testing.TB helpers (NewHubCluster,
// NewEtcd, Kubectl), which skip when the binaries are missing (and fail when
// CI=true) and stop every process they started, even when the test fails.
// Programs use StartEtcd / StartHubCluster directly; with Detach set the
// processes run in their own session and outlive the program, and StopPID stops
// them later after checking that the PID still belongs to the same binary.
package framework
