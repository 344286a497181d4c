package localfed

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EncryptedPrefix starts every value an aescbc provider wrote into etcd.
const EncryptedPrefix = "k8s:enc:aescbc:v1:"

// PorticoEncryptedResources are the portico-hub resources that hold private keys:
// ClusterAccessPoints carry the certificate Secrets of their access points.
var PorticoEncryptedResources = []string{"clusteraccesspoints.traffic.portico.dev"}

// EnsureEncryptionConfig writes, once, an apiserver EncryptionConfiguration that
// encrypts resources with a fresh random AES-CBC key (falling back to identity to
// read what was stored before). An existing file is kept, so a restarted server
// can still read what it wrote. The file is mode 0600: it holds the key.
func EnsureEncryptionConfig(path string, resources ...string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [%s]
    providers:
      - aescbc:
          keys:
            - name: local
              secret: %s
      - identity: {}
`, strings.Join(resources, ", "), base64.StdEncoding.EncodeToString(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}
