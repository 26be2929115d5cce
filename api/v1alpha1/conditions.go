package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GetConditions and SetConditions let code that handles both kinds of alias read and write
// their conditions alike, as fluxcd's conditions.Setter does.

// GetConditions returns the alias's status conditions.
func (a *ServiceAlias) GetConditions() []metav1.Condition { return a.Status.Conditions }

// SetConditions replaces the alias's status conditions.
func (a *ServiceAlias) SetConditions(c []metav1.Condition) { a.Status.Conditions = c }

// GetConditions returns the alias's status conditions.
func (a *NamespaceAlias) GetConditions() []metav1.Condition { return a.Status.Conditions }

// SetConditions replaces the alias's status conditions.
func (a *NamespaceAlias) SetConditions(c []metav1.Condition) { a.Status.Conditions = c }
