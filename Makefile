# meshalias. The two commands a fresh machine needs are `make demo` and `make test`.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= meshalias/meshalias:dev
# Set ONCE=1 to play the demo's story once and exit with its verdict.
ONCE ?=
# The control-plane binaries live in bin/k8s/<version>/; hack/build-control-plane.sh builds
# them once per machine, prints a progress line per binary, and prints the folder last.
# Recipes resolve it into $assets first, from the repository root and as a plain assignment,
# so that a failed build stops the recipe instead of leaving KUBEBUILDER_ASSETS empty.
RESOLVE_CONTROL_PLANE = assets="$$(hack/build-control-plane.sh | tail -1)"

.PHONY: all
all: build

##@ The two set-up commands

.PHONY: demo
demo: ## Play the incident's story on an embedded control plane (ONCE=1 to exit when done).
	$(RESOLVE_CONTROL_PLANE); KUBEBUILDER_ASSETS="$$assets" go run ./hack/demo $(if $(ONCE),--once)

.PHONY: test
test: ## Run every test: unit, fuzz seeds, envtest integration, e2e and the fault suite.
	hack/test.sh

##@ Development

.PHONY: control-plane
control-plane: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl once per machine.
	@hack/build-control-plane.sh

.PHONY: generate
generate: ## Regenerate deepcopy, CRDs and RBAC from the markers.
	go tool controller-gen object paths=./api/...
	go tool controller-gen crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	go tool controller-gen rbac:roleName=manager paths=./controllers/... paths=./internal/... output:rbac:artifacts:config=config/rbac

.PHONY: verify
verify: generate ## Regenerate everything and fail if the tree changed; vet and check formatting.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }
	@for m in e2e hack/controlplane hack/coredns hack/image hack/promtool hack/krew hack/plot; do \
		[ -f $$m/go.mod ] || continue; \
		(cd $$m && go mod tidy -diff) || { echo "$$m/go.mod or go.sum is not tidy: run 'cd $$m && go mod tidy' and commit"; exit 1; }; \
	done
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

.PHONY: fmt
fmt:
	gofmt -w $$(git ls-files '*.go')

.PHONY: build
build: ## Build the operator and the kubectl plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -buildvcs=true -o bin/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -buildvcs=true -o bin/kubectl-meshalias ./cmd/kubectl-meshalias

.PHONY: run
run: ## Run the operator against the current kubeconfig.
	go run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

# The local control plane's kubectl, unless you name your own.
KUBECTL ?= $$assets/kubectl

.PHONY: install-manifest
install-manifest: ## Render config/default into dist/install.yaml, unpinned (make dist pins the image by digest).
	@mkdir -p dist
	go run ./hack/render config/default > dist/install.yaml
	@echo "wrote dist/install.yaml"

.PHONY: deploy
deploy: ## Apply the rendered config/default to the current kubeconfig's cluster.
	$(RESOLVE_CONTROL_PLANE); go run ./hack/render config/default | $(KUBECTL) apply --server-side --field-manager=meshalias-install -f -

.PHONY: undeploy
undeploy: ## Delete what deploy applied. Aliases go with their CRDs, and entries with their aliases.
	$(RESOLVE_CONTROL_PLANE); go run ./hack/render config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: image
image: ## Build the multi-arch OCI image into dist/image without Docker, and its digest into dist/image.digest; PUSH=registry/repo:tag pushes it.
	@mkdir -p dist
	cd hack/image && go run . -root ../.. $(if $(PUSH),-push $(PUSH))

.PHONY: dist
dist: image ## Build the release into dist/: plugin archives, install.yaml pinned to the image's digest, checksums.txt, the krew manifest.
	hack/dist.sh $(or $(PUSH),$(IMG))

.PHONY: promtool
promtool: ## Build Prometheus's promtool once per machine into bin/promtool/<version>/.
	@hack/build-promtool.sh

##@ Beyond make test

.PHONY: e2e
e2e: ## Run only the e2e module: the built operator under its own RBAC, judged by Istio's pilot.
	$(RESOLVE_CONTROL_PLANE); cd e2e && KUBEBUILDER_ASSETS="$$assets" go test -count=1 -v -timeout 45m ./...

# The fault suite is part of make test and make e2e too (about 2 minutes on 2 cores); this
# runs it alone, and writes its figures.
.PHONY: faults
faults: ## Run the fault suite alone and write RELIABILITY.md.
	$(RESOLVE_CONTROL_PLANE); cd e2e && KUBEBUILDER_ASSETS="$$assets" MESHALIAS_WRITE_RELIABILITY="$(CURDIR)/RELIABILITY.md" go test -count=1 -v -timeout 30m -run '^TestFaults$$' .

.PHONY: bench
bench: ## Measure convergence, idle writes, follow latency, memory, bounded status and the planner alone at 1k/5k/10k/20k, and profile the operator at 10k; writes BENCHMARKS.md and docs/bench/.
	@mkdir -p docs/bench
	go test -run='^$$' -bench=. -benchmem -count=3 ./internal/desired/ | tee docs/bench/gobench.txt
	$(RESOLVE_CONTROL_PLANE); KUBEBUILDER_ASSETS="$$assets" go run ./hack/bench -gobench=docs/bench/gobench.txt $(BENCH_FLAGS)
	cd hack/plot && go run . -in ../../docs/bench/results.json -out ../../docs/bench

.PHONY: help
help:
	@awk 'BEGIN{FS=":.*##"} /^[a-zA-Z_-]+:.*##/{printf "  %-16s %s\n",$$1,$$2} /^##@/{printf "\n%s\n",substr($$0,5)}' $(MAKEFILE_LIST)
