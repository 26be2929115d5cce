package controllers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
	"github.com/meshalias/meshalias/internal/localcluster"
)

// admissionLabel marks the namespaces this test's binding judges. The shipped binding judges
// every namespace; here that would refuse the aliases of every other test in the package.
const admissionLabel = "meshalias.io/test-admission"

// TestAdmissionPolicy applies config/admission, as shipped but for the binding's namespaces,
// to a real apiserver and checks what a person applying aliases sees.
func TestAdmissionPolicy(t *testing.T) {
	var (
		namespaces []string
		domains    []string
		installed  []client.Object
	)
	// Any AliasDomain makes the operator refuse hosts in every namespace, so nothing of this
	// test may outlive it. Registered first, it runs last, after the subtests' own cleanups.
	t.Cleanup(func() {
		for _, o := range installed {
			deleteAndWait(t, o)
		}
		for _, d := range domains {
			deleteAndWait(t, &meshaliasv1.AliasDomain{ObjectMeta: metav1.ObjectMeta{Name: d}})
		}
		// The aliases go before their namespaces, so that the operator is not left writing
		// events into a terminating namespace.
		for _, ns := range namespaces {
			for _, o := range []client.Object{&meshaliasv1.ServiceAlias{}, &meshaliasv1.NamespaceAlias{}} {
				if err := k8s.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
					t.Errorf("deleting the aliases of %s: %v", ns, err)
				}
			}
			eventually(t, "the aliases of "+ns+" gone", func() error {
				var sas meshaliasv1.ServiceAliasList
				var nas meshaliasv1.NamespaceAliasList
				if err := k8s.List(ctx, &sas, client.InNamespace(ns)); err != nil {
					return err
				}
				if err := k8s.List(ctx, &nas, client.InNamespace(ns)); err != nil {
					return err
				}
				if n := len(sas.Items) + len(nas.Items); n > 0 {
					return fmt.Errorf("%d left", n)
				}
				return nil
			})
			_ = k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
	namespace := func(labels map[string]string) string {
		t.Helper()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-adm-", Labels: map[string]string{admissionLabel: "true"}}}
		for k, v := range labels {
			ns.Labels[k] = v
		}
		create(t, ns)
		namespaces = append(namespaces, ns.Name)
		return ns.Name
	}

	policy, binding := loadAdmission(t)
	binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{admissionLabel: "true"}},
	}
	installed = append(installed, binding, policy)
	create(t, policy, binding)
	// The apiserver type-checks every CEL expression against the CRDs' schemas: a misspelt
	// field would otherwise only show as a policy that never refuses.
	eventually(t, "the policy type-checks without warnings", func() error {
		var got admissionregistrationv1.ValidatingAdmissionPolicy
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(policy), &got); err != nil {
			return err
		}
		switch {
		case got.Status.TypeChecking == nil:
			return fmt.Errorf("not type-checked yet")
		case len(got.Status.TypeChecking.ExpressionWarnings) > 0:
			t.Fatalf("type-checking warnings: %+v", got.Status.TypeChecking.ExpressionWarnings)
		}
		return nil
	})

	teamA := namespace(map[string]string{"team": "a"})
	teamB := namespace(map[string]string{"team": "b"})

	var existing meshaliasv1.AliasDomainList
	if err := k8s.List(ctx, &existing); err != nil {
		t.Fatal(err)
	}
	if len(existing.Items) == 0 {
		// parameterNotFoundAction: Deny, as --require-alias-domain: with no AliasDomain at all
		// the apiserver refuses with its own message, which cannot name the host.
		// It is a configuration error to the apiserver, hence 422 Invalid rather than 403.
		t.Run("no AliasDomain at all refuses everything", func(t *testing.T) {
			alias := serviceAlias(teamA, "first", "web", "web.pay.example")
			eventually(t, "an alias refused while no AliasDomain exists", func() error {
				try := alias.DeepCopy()
				err := k8s.Create(ctx, try)
				switch {
				case err == nil:
					_ = k8s.Delete(ctx, try)
					return fmt.Errorf("admitted")
				case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "no params found"):
					return err
				}
				t.Logf("refused: %v", err)
				return nil
			})
		})
	}

	team := func(name string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"team": name}}
	}

	// Until the operator has listed every domain in an AliasDomain's status, that AliasDomain
	// cannot tell which hosts it decides, and must refuse none. Stopping the operator holds
	// the status empty for as long as the case needs.
	t.Run("an AliasDomain the operator has not filled in refuses nothing", func(t *testing.T) {
		stopManager()
		stopped := true
		restart := func() {
			if stopped {
				stopped = false
				if err := startManager(); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Cleanup(restart)
		d := aliasDomainSelecting("pay.example", team("a"))
		create(t, d)
		domains = append(domains, d.Name)
		alias := serviceAlias(teamB, "early", "web", "api.pay.example", "web.nowhere.example")
		expectAdmitted(t, alias)
		deleteAndWait(t, alias)
		restart()
	})

	for _, d := range []*meshaliasv1.AliasDomain{
		aliasDomainSelecting("shop.example", team("b")),
		aliasDomainSelecting("api.shop.example", team("a")),
		aliasDomainSelecting("corp.example", metav1.LabelSelector{}),
		aliasDomainSelecting("secret.corp.example", team("b")),
		aliasDomainSelecting("expr.example", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"gold", "silver"}},
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}},
			{Key: "owner", Operator: metav1.LabelSelectorOpExists},
			{Key: "frozen", Operator: metav1.LabelSelectorOpDoesNotExist},
		}}),
	} {
		create(t, d)
		domains = append(domains, d.Name)
	}
	waitDomainsListed(t, domains)

	// Until the binding is in force, and the apiserver sees every AliasDomain's status.domains,
	// expectRefused retries: this first refusal is where that wait happens.
	t.Run("a host under an AliasDomain that does not select the namespace is refused", func(t *testing.T) {
		expectRefused(t, serviceAlias(teamB, "pay", "web", "api.pay.example"),
			`host "api.pay.example" is not allowed`, `namespace "`+teamB+`"`, `AliasDomain "pay.example" decides it`)
	})
	t.Run("hosts an AliasDomain selects the namespace for are accepted", func(t *testing.T) {
		expectAdmitted(t, serviceAlias(teamA, "pay", "web", "pay.example", "api.pay.example"))
	})
	t.Run("a longer AliasDomain allows a host under a shorter one that does not", func(t *testing.T) {
		expectAdmitted(t, serviceAlias(teamA, "cart", "web", "cart.api.shop.example", "api.shop.example"))
		expectRefused(t, serviceAlias(teamA, "web", "web", "web.shop.example"),
			`host "web.shop.example" is not allowed`, `namespace "`+teamA+`"`, `AliasDomain "shop.example" decides it`)
	})
	t.Run("a longer AliasDomain refuses a host under a shorter one that allows it", func(t *testing.T) {
		expectAdmitted(t, serviceAlias(teamA, "wiki", "web", "wiki.corp.example"))
		expectRefused(t, serviceAlias(teamA, "vault", "web", "db.secret.corp.example"),
			`host "db.secret.corp.example" is not allowed`, `namespace "`+teamA+`"`, `AliasDomain "secret.corp.example" decides it`)
	})
	t.Run("a host no AliasDomain covers is refused", func(t *testing.T) {
		// One host among allowed ones: the message names only the one to fix.
		err := expectRefused(t, serviceAlias(teamA, "lost", "web", "web.pay.example", "web.elsewhere.example"),
			`host "web.elsewhere.example" is not allowed`, `namespace "`+teamA+`"`, "no AliasDomain covers it")
		if strings.Contains(err.Error(), `"web.pay.example"`) {
			t.Errorf("the message names an allowed host: %v", err)
		}
		// "example" is no AliasDomain, though every AliasDomain here is under it.
		expectRefused(t, serviceAlias(teamA, "bare", "web", "web.example"), `host "web.example"`, "no AliasDomain covers it")
	})
	t.Run("a matchExpressions selector is judged as Kubernetes judges it", func(t *testing.T) {
		for _, tc := range []struct {
			labels  map[string]string
			allowed bool
		}{
			{map[string]string{"tier": "gold", "env": "dev", "owner": "x"}, true},
			{map[string]string{"tier": "silver", "owner": "x"}, true}, // NotIn holds when the key is absent
			{map[string]string{"tier": "bronze", "env": "dev", "owner": "x"}, false},
			{map[string]string{"env": "dev", "owner": "x"}, false}, // In needs the key
			{map[string]string{"tier": "gold", "env": "prod", "owner": "x"}, false},
			{map[string]string{"tier": "gold", "env": "dev"}, false},
			{map[string]string{"tier": "gold", "env": "dev", "owner": "x", "frozen": ""}, false},
		} {
			ns := namespace(tc.labels)
			alias := serviceAlias(ns, "app", "web", "app.expr.example")
			if tc.allowed {
				expectAdmitted(t, alias)
				continue
			}
			expectRefused(t, alias, `host "app.expr.example" is not allowed`, `namespace "`+ns+`"`, `AliasDomain "expr.example" decides it`)
		}
	})
	t.Run("a NamespaceAlias's domain is judged as a host", func(t *testing.T) {
		expectAdmitted(t, namespaceAlias(teamA, "pay", "pay.example", nil))
		expectRefused(t, namespaceAlias(teamA, "shop", "shop.example", nil),
			`domain "shop.example" is not allowed`, `namespace "`+teamA+`"`, `AliasDomain "shop.example" decides it`)
		expectRefused(t, namespaceAlias(teamA, "everything", "example", nil), `domain "example" is not allowed`, "no AliasDomain covers it")
	})
	t.Run("an update that claims a refused host is refused", func(t *testing.T) {
		alias := serviceAlias(teamB, "grow", "web", "shop.example")
		expectAdmitted(t, alias)
		// A merge patch, as kubectl edit sends: the operator's status writes do not conflict.
		before := alias.DeepCopy()
		alias.Spec.Hosts = append(alias.Spec.Hosts, "api.shop.example")
		err := k8s.Patch(ctx, alias, client.MergeFrom(before))
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `host "api.shop.example" is not allowed`) {
			t.Fatalf("update adding api.shop.example in %s: got %v, want it refused", teamB, err)
		}
	})
	t.Run("a GitOps server-side apply of a refused alias fails loudly", func(t *testing.T) {
		manifest := fmt.Sprintf(`
apiVersion: meshalias.io/v1alpha1
kind: ServiceAlias
metadata:
  name: synced
  namespace: %s
spec:
  service: {name: web}
  hosts: [checkout.shop.example]
`, teamA)
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
			t.Fatal(err)
		}
		err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("argocd-controller"), client.ForceOwnership)
		if !apierrors.IsForbidden(err) {
			t.Fatalf("server-side apply: got %v, want 403 Forbidden", err)
		}
		for _, want := range []string{`host "checkout.shop.example" is not allowed`, `namespace "` + teamA + `"`, `AliasDomain "shop.example" decides it`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("server-side apply refused with %q, which does not say %q", err, want)
			}
		}
		t.Logf("what the sync shows: %v", err)
		if err := k8s.Get(ctx, clientKey(teamA, "synced"), &meshaliasv1.ServiceAlias{}); !apierrors.IsNotFound(err) {
			t.Errorf("the refused alias exists: %v", err)
		}
	})
}

// loadAdmission reads the policy and the binding that config/admission ships, through its
// kustomization's resource list, and refuses a field the API does not know.
func loadAdmission(t *testing.T) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "config", "admission")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &kustomization); err != nil {
		t.Fatal(err)
	}
	var (
		policy  *admissionregistrationv1.ValidatingAdmissionPolicy
		binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	)
	for _, file := range kustomization.Resources {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		var into any
		switch meta.Kind {
		case "ValidatingAdmissionPolicy":
			policy = &admissionregistrationv1.ValidatingAdmissionPolicy{}
			into = policy
		case "ValidatingAdmissionPolicyBinding":
			binding = &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			into = binding
		default:
			t.Fatalf("%s: unexpected kind %q", file, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(raw, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if policy == nil || binding == nil {
		t.Fatalf("config/admission must hold a policy and its binding; resources: %v", kustomization.Resources)
	}
	if binding.Spec.PolicyName != policy.Name {
		t.Fatalf("the binding binds %q, the policy is %q", binding.Spec.PolicyName, policy.Name)
	}
	return policy, binding
}

func aliasDomainSelecting(domain string, selector metav1.LabelSelector) *meshaliasv1.AliasDomain {
	return &meshaliasv1.AliasDomain{
		ObjectMeta: metav1.ObjectMeta{Name: domain},
		Spec:       meshaliasv1.AliasDomainSpec{Domain: domain, NamespaceSelector: selector},
	}
}

// waitDomainsListed waits for the operator to list every AliasDomain's domain in the status
// of each of ours: until it has, the policy lets every host pass.
func waitDomainsListed(t *testing.T, ours []string) {
	t.Helper()
	eventually(t, "the operator lists every domain in each AliasDomain's status.domains", func() error {
		var list meshaliasv1.AliasDomainList
		if err := k8s.List(ctx, &list); err != nil {
			return err
		}
		var all []string
		for _, d := range list.Items {
			all = append(all, d.Spec.Domain)
		}
		slices.Sort(all)
		for _, d := range list.Items {
			if slices.Contains(ours, d.Name) && !slices.Equal(d.Status.Domains, all) {
				return fmt.Errorf("AliasDomain %s lists %v, want %v", d.Name, d.Status.Domains, all)
			}
		}
		return nil
	})
}

// expectAdmitted creates obj and fails unless the apiserver accepts it. A refusal is retried
// for a while: the apiserver learns of AliasDomains and their status through an informer.
func expectAdmitted(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, fmt.Sprintf("%T %s/%s admitted", obj, obj.GetNamespace(), obj.GetName()), func() error {
		if err := k8s.Create(ctx, obj.DeepCopyObject().(client.Object)); err != nil {
			return err
		}
		return k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	})
}

// expectRefused creates obj and fails unless the apiserver refuses it with 403 Forbidden and a
// message that says each of wants. An alias admitted meanwhile, before the binding or the
// AliasDomains reached the apiserver's informers, is deleted and tried again. It returns the
// refusal, as the person applying the alias sees it.
func expectRefused(t *testing.T, obj client.Object, wants ...string) error {
	t.Helper()
	var refusal error
	eventually(t, fmt.Sprintf("%T %s/%s refused", obj, obj.GetNamespace(), obj.GetName()), func() error {
		try := obj.DeepCopyObject().(client.Object)
		err := k8s.Create(ctx, try)
		if err == nil {
			_ = k8s.Delete(ctx, try)
			return fmt.Errorf("admitted")
		}
		if !apierrors.IsForbidden(err) {
			return err
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				return fmt.Errorf("refused with %q, which does not say %q", err, want)
			}
		}
		refusal = err
		return nil
	})
	t.Logf("refused: %v", refusal)
	return refusal
}

// deleteAndWait deletes obj and waits until the apiserver no longer has it.
func deleteAndWait(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		return
	}
	eventually(t, fmt.Sprintf("%T %s gone", obj, obj.GetName()), func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			return fmt.Errorf("still there")
		}
		return err
	})
}
