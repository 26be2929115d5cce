package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshaliasv1 "github.com/meshalias/meshalias/api/v1alpha1"
)

// policySwitched tells whether an AliasDomain event may have switched the host policy on or
// off for every alias: without --require-alias-domain, the first AliasDomain puts the policy
// in force, and the deletion of the last one lifts it. Any other AliasDomain event bears only
// on the hosts under its domain, which the suffix indexes find.
func policySwitched(ctx context.Context, reader client.Reader, required bool) bool {
	if required {
		return false
	}
	var domains meshaliasv1.AliasDomainList
	if err := reader.List(ctx, &domains); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing AliasDomains for a watch event")
		return true
	}
	return len(domains.Items) <= 1
}
