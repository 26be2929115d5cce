// Package aliasdomain writes meshalias's AliasDomain policy objects and tells when the operator
// has published them. An AliasDomain says which namespaces may claim a domain, and every name
// under it, as alias hosts. Two gates read it: the operator, which refuses a host no AliasDomain
// allows (HostNotAllowed), and the admission policy in config/default, which can only judge a
// host once the operator has copied the list of every AliasDomain into each one's
// status.domains (it sees one AliasDomain at a time). Until then admission cannot be relied on,
// so a test that creates aliases waits for Published first.
package aliasdomain

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	apiVersion = "meshalias.io/v1alpha1"
	kind       = "AliasDomain"
	listKind   = "AliasDomainList"

	// namespaceNameLabel is the label the apiserver puts on every namespace, with the
	// namespace's name as the value: a selector on it names namespaces exactly.
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// ForNamespaces returns an AliasDomain that lets exactly the named namespaces claim domain. It
// is named after its domain, as the CRD requires.
func ForNamespaces(domain string, namespaces ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(domain)
	u.Object["spec"] = map[string]any{
		"domain":            domain,
		"namespaceSelector": selectorFor(namespaces),
	}
	return u
}

// Delete deletes the AliasDomain for domain.
func Delete(ctx context.Context, c client.Client, domain string) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(domain)
	return c.Delete(ctx, u)
}

// Published returns the sorted domains of every AliasDomain in the cluster once each of them
// lists exactly those in status.domains, that is, once the operator has caught up with the
// latest AliasDomain created or deleted; otherwise an error that says which one lags.
func Published(ctx context.Context, c client.Client) ([]string, error) {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion(apiVersion)
	l.SetKind(listKind)
	if err := c.List(ctx, l); err != nil {
		return nil, err
	}
	var domains []string
	for _, u := range l.Items {
		d, _, _ := unstructured.NestedString(u.Object, "spec", "domain")
		domains = append(domains, d)
	}
	slices.Sort(domains)
	for _, u := range l.Items {
		got, _, _ := unstructured.NestedStringSlice(u.Object, "status", "domains")
		if !slices.Equal(got, domains) {
			return nil, fmt.Errorf("AliasDomain %s: status.domains %v, want %v", u.GetName(), got, domains)
		}
	}
	return domains, nil
}

// selectorFor selects the named namespaces by their name label: with matchLabels for one,
// the form every reader of a LabelSelector understands, and with an In expression for several.
func selectorFor(namespaces []string) map[string]any {
	if len(namespaces) == 1 {
		return map[string]any{"matchLabels": map[string]any{namespaceNameLabel: namespaces[0]}}
	}
	values := make([]any, 0, len(namespaces))
	for _, ns := range namespaces {
		values = append(values, ns)
	}
	return map[string]any{
		"matchExpressions": []any{map[string]any{
			"key":      namespaceNameLabel,
			"operator": string(metav1.LabelSelectorOpIn),
			"values":   values,
		}},
	}
}
