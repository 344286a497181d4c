// Package localfed starts and stops the processes of a local Portico
// federation: etcd, kube-apiserver with kube-controller-manager beside it (the
// hub cluster and member clusters), portico-hub, member-agents and BIND, with
// the certificates, kubeconfigs and encryption configurations they need.
// Subpackage localup adds the L4 tier (BIRD, network namespaces, relays,
// lb-agent VMs) and runs the whole federation of `make up`; subpackage nsrun
// runs code inside a network namespace.
//
// It is the one harness of `make up` (hack/local-up), the e2e tier and the
// tests, and it does not import package testing: test/framework wraps it with
// testing.TB helpers (NewHubCluster, NewMemberCluster, ...) that skip or fail
// when the binaries are missing and stop everything in t.Cleanup.
//
// Everything runs on 127.0.0.1 with ports chosen at start-up; all files (PKI,
// token file, kubeconfigs, data and logs) live under one directory chosen by
// the caller. With Detach set the processes run in their own session and
// outlive the program; StopPID stops them later after checking that the PID
// still belongs to the same binary. Without it a process dies with its
// launcher.
package localfed
