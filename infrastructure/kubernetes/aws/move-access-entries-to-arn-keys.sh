#!/usr/bin/env bash
# Once per EKS environment created before the access entries were keyed by ARN: moves each
# cluster-admin access entry, and its policy association, in the Terraform state from its
# position key (admin-0, admin-1, ...) to its principal's ARN. Without it the next plan destroys
# and re-creates every entry, and EKS refuses the new entry of a principal whose old one still
# exists, which can leave the apply's own role without access. It changes nothing in AWS.
#
# Run it in infrastructure/kubernetes/aws/environments/<env> after `terraform init`, before the
# first plan of the new code; `terraform plan` then shows no change to the access entries.
#   ../../move-access-entries-to-arn-keys.sh --dry-run   # print the moves only
#   ../../move-access-entries-to-arn-keys.sh             # make them
# Needs terraform and jq. A state without position keys (new, or moved already) is left as it is.
set -euo pipefail

eks='module.platform.module.cluster.module.eks'
entries="$eks.aws_eks_access_entry.this"
associations="$eks.aws_eks_access_policy_association.this"

dry_run=false
case "${1:-}" in
  --dry-run) dry_run=true ;;
  '') ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

# "<position key><TAB><principal ARN>" of each entry still under a position key.
positions=$(terraform show -json | jq -r --arg entries "$entries" '
  [.. | objects | select((.address? // "") | startswith($entries + "[\"admin-"))]
  | .[] | [.index, .values.principal_arn] | @tsv')
if [ -z "$positions" ]; then
  echo "No access entry under a position key in this state: nothing to move."
  exit 0
fi
in_state=$(terraform state list)

move() {
  echo "terraform state mv '$1' '$2'"
  if ! "$dry_run"; then
    terraform state mv "$1" "$2" >/dev/null
  fi
}

while IFS=$'\t' read -r key arn; do
  move "${entries}[\"$key\"]" "${entries}[\"$arn\"]"
  # One association per entry and policy (module key "<entry key>_<policy key>").
  while IFS= read -r address; do
    policy=${address#"${associations}[\"${key}_"}
    move "$address" "${associations}[\"${arn}_$policy"
  done < <(grep -F "${associations}[\"${key}_" <<<"$in_state" || true)
done <<<"$positions"
