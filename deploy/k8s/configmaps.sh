#!/usr/bin/env bash
# The data folders as the ConfigMaps worker.yaml and sinks.yaml mount under /etc/isthmus (the same layout as the
# project: a system file's `target: targets/<name>.yaml` and its connector file are found relative to it).
#   deploy/k8s/configmaps.sh NAMESPACE [PROJECT]     PROJECT: the folder holding your systems/, mappings/, ...
# Run it again after changing a file, then restart the pods (kubectl rollout restart deployment -l
# app.kubernetes.io/part-of=isthmus). Only the files directly in each folder are taken (ConfigMaps are flat).
set -euo pipefail
namespace=${1:?usage: configmaps.sh NAMESPACE [PROJECT]}
project=${2:-.}
while read -r name folder; do
  kubectl create configmap "$name" --namespace "$namespace" --from-file="$project/$folder" \
    --dry-run=client -o yaml | kubectl label --local -f - app.kubernetes.io/part-of=isthmus -o yaml \
    | kubectl apply -f -
done <<'FOLDERS'
isthmus-mappings mappings
isthmus-systems systems
isthmus-flows flows
isthmus-targets targets
isthmus-connectors connect-configs/connectors
FOLDERS
