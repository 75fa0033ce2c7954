#!/bin/sh
# One-shot (admin-tools image), after the server is up: wait until the cluster reports
# healthy, create the namespace (temporalio/server, unlike auto-setup, creates none) and
# register the campaign search attributes. Idempotent: what already exists is kept; an
# attribute that exists with a type other than Keyword is an error.
set -eu

address=${TEMPORAL_ADDRESS:-temporal:7233}
namespace=${TEMPORAL_NAMESPACE:-default}

tries=0
until temporal operator cluster health --address "$address"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal at $address is not healthy after 2 minutes" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "Namespace $namespace exists"
else
  temporal operator namespace create --address "$address" --namespace "$namespace"
fi

add() {
  temporal operator search-attribute create --address "$address" --namespace "$namespace" "$@" 2>&1
}

# A fresh namespace takes a few seconds to reach the server's namespace cache, so retry.
tries=0
while :; do
  if out=$(add --name CampaignId --type Keyword --name CampaignType --type Keyword --name CampaignStatus --type Keyword --name CampaignMonth --type Keyword); then
    echo "$out"
    break
  fi
  echo "$out"
  case $out in
    *"different type"*) exit 1 ;;
    *"already exists"*)
      # The server rejects the whole request when any one exists: add the rest one at a time.
      for name in CampaignId CampaignType CampaignStatus CampaignMonth; do
        if out=$(add --name "$name" --type Keyword); then
          echo "$out"
        else
          case $out in
            *"different type"*) echo "$out"; exit 1 ;;
            *"already exists"*) echo "Search attribute $name exists" ;;
            *) echo "$out"; exit 1 ;;
          esac
        fi
      done
      break
      ;;
  esac
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "Could not register the search attributes" >&2
    exit 1
  fi
  sleep 2
done

echo "Namespace $namespace ready: CampaignId, CampaignType, CampaignStatus, CampaignMonth (Keyword)"
