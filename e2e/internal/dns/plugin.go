package dns

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"

	"sigs.k8s.io/yaml"
)

// ConfigMapKey is where `dns --coredns --format configmap` puts the rules in the
// kube-system/coredns-custom ConfigMap: CoreDNS distributions import that ConfigMap's
// *.override keys into the main server block.
const ConfigMapKey = "meshalias.override"

// Rules runs `kubectl-meshalias --kubeconfig kubeconfig dns --coredns <args...>` (scope such
// as "-A", or "--format", "configmap") and returns what it printed. A non-zero exit is an error
// that carries its stderr.
func Rules(bin, kubeconfig string, args ...string) (string, error) {
	all := append([]string{"--kubeconfig", kubeconfig, "dns", "--coredns"}, args...)
	cmd := exec.Command(bin, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubectl-meshalias %s: %w\n%s", strings.Join(all[2:], " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// ConfigMapRules reads the rules out of the ConfigMap that `--format configmap` prints, and
// checks it is the one CoreDNS distributions import: kube-system/coredns-custom.
func ConfigMapRules(doc string) (string, error) {
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
		return "", fmt.Errorf("--format configmap printed no ConfigMap: %w\n%s", err, doc)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Namespace != "kube-system" || cm.Metadata.Name != "coredns-custom" {
		return "", fmt.Errorf("--format configmap printed %s %s %s/%s, want v1 ConfigMap kube-system/coredns-custom", cm.APIVersion, cm.Kind, cm.Metadata.Namespace, cm.Metadata.Name)
	}
	rules, ok := cm.Data[ConfigMapKey]
	if !ok || len(cm.Data) != 1 {
		return "", fmt.Errorf("ConfigMap kube-system/coredns-custom has keys %v, want only %s", keys(cm.Data), ConfigMapKey)
	}
	return rules, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
