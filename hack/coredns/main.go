// Command coredns is CoreDNS v1.15.0 with only the plugins meshalias' e2e tests need, built by
// hack/build-coredns.sh into bin/coredns/<version>/coredns. It is the upstream coredns.go with
// core/plugin/zplugin.go (every plugin) replaced by the imports below, and the directive list
// cut down to the same plugins in upstream's order (core/dnsserver/zdirectives.go), which
// decides the order a query goes through them: rewrite before kubernetes, forward last.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/rewrite"
)

// directives is upstream's list restricted to the plugins imported above, in upstream's order.
var directives = []string{
	"bind",       // listen on 127.0.0.1 only
	"ready",      // /ready turns 200 once the kubernetes plugin has synced with the apiserver
	"errors",     // log what fails
	"log",        // one line per query, for reading a failed test
	"rewrite",    // the rules of `kubectl meshalias dns --coredns`
	"kubernetes", // <svc>.<ns>.svc.cluster.local from the cluster's Services
	"forward",    // every other name, to the resolver the cluster's CoreDNS would use
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns:", err)
		os.Exit(1)
	}
	coremain.Run()
}
