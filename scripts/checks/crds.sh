#!/usr/bin/env bash
# The RelayNode CRD: the checked-in YAML matches the Rust types, its schema is valid JSON Schema,
# the example RelayNodes validate against it, and a broken RelayNode does not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"
PY="$ROOT/.venv/bin/python"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cargo run -q --locked -p oxidize-operator --bin crdgen -- --write "$tmp" 2>/dev/null
for f in crds/relaynode.yaml charts/oxidize/crds/relaynode.yaml deploy/crd/relaynode.yaml; do
  if ! diff -u "$f" "$tmp/$f"; then
    echo "$f is stale: run 'cargo run -p oxidize-operator --bin crdgen -- --write' and commit it" >&2
    exit 1
  fi
done
echo "crd yaml: fresh"

"$PY" - "$tmp/relaynode.schema.json" <<'PYEOF'
import json, sys, yaml
crd = yaml.safe_load(open("crds/relaynode.yaml"))
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
# The apiserver checks the object's identity; the schema only describes spec/status.
schema["properties"]["apiVersion"] = {"const": "relay.oxidize.dev/v1alpha1"}
schema["properties"]["kind"] = {"const": "RelayNode"}
schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "spec"})
json.dump(schema, open(sys.argv[1], "w"), indent=1)
PYEOF

check-jsonschema --check-metaschema "$tmp/relaynode.schema.json"
check-jsonschema --schemafile "$tmp/relaynode.schema.json" deploy/examples/*.yaml

# The schema must refuse what it promises to refuse (so a vacuous schema cannot pass).
cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: relay.oxidize.dev/v1alpha1
kind: RelayNode
metadata: {name: bad}
spec:
  tuning: {isolatedCores: "2-5", hugepages: {size: 3Mi, countPerNumaNode: 0}}
  dataplane:
    image: x
    interface: eth1
    queues: 0
    port: 70000
    tlsSecretName: relay-tls
    tokenSecretName: relay-tokens
    clientPool: {ipv4: 10.64.0.0/16}
    zeroCopy: sometimes
YAML
if out="$(check-jsonschema --schemafile "$tmp/relaynode.schema.json" "$tmp/bad.yaml" 2>&1)"; then
  echo "the CRD schema accepted an invalid RelayNode:" >&2
  exit 1
fi
for want in "'3Mi' is not one of" "0 is less than the minimum of 1" "70000 is greater than the maximum of 65535" "'sometimes' is not one of"; do
  if ! grep -qF "$want" <<<"$out"; then
    echo "expected the schema to report: $want; got:" >&2
    echo "$out" >&2
    exit 1
  fi
done
echo "crd schema: refuses the invalid RelayNode ($(grep -c 'is not\|minimum\|maximum' <<<"$out") errors)"
