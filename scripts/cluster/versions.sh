# Pinned versions of the local cluster (sourced by scripts/cluster/*).
# Kubernetes release, the Go release it names in .go-version, and the etcd its
# build/dependencies.yaml names. Change them together.
K8S_VERSION=v1.36.2
GO_VERSION=1.26.4
ETCD_VERSION=v3.6.8
