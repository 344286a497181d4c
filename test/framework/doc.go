// Package framework is what Portico's tests use to run real processes and to
// wait: testing.TB wrappers over package test/localfed (NewHubCluster,
// NewMemberCluster, NewPorticoHub, NewMemberAgent, NewEtcd, Kubectl,
// RequireKubeBinaries) and Eventually, the one wait helper of the tests.
//
// The wrappers skip when the kube binaries (hack/build-kube.sh) are missing, and
// fail instead when CI=true; each process they start is stopped in t.Cleanup,
// also when the test fails, and then the tails of its logs are logged. Every
// process runs on 127.0.0.1 with a port chosen at start-up, its files in a
// t.TempDir(). Programs (make up, the e2e tier's federation) use localfed
// directly; this package is the only one of the harness that imports testing.
package framework
