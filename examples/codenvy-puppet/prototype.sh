#!/usr/bin/env bash
# The codenvy-puppet scenario with plain docker commands, as berth will run it from
# codenvy-puppet.yaml: one image, eight nodes on a network of fixed addresses, every peer in every
# /etc/hosts (--add-host, as berth's static mode does), the master's files copied in before it
# starts, the master's command, then the seven agents' first Puppet runs in parallel, a second run
# on each (must change nothing: exit 0), and the site's page fetched from this host.
# Prints the figures: master ready, each agent's first run, the second runs, the total.
#
#   examples/codenvy-puppet/prototype.sh [--keep]     (--keep: leave the containers running)
#
# Needs the image: berth image build-debian --tag berth/codenvy-puppet:1 \
#   --packages puppetserver,puppet-agent,nginx-light,ca-certificates,procps,iproute2
# Environment: IMAGE, DOMAIN (codenvy.local), PREFIX (imgtest-cp), SUBNET (10.247.60, a /24),
# MASTER_MEMORY (1g), AGENT_MEMORY (512m).
set -euo pipefail
cd "$(dirname "$0")"

IMAGE=${IMAGE:-berth/codenvy-puppet:1}
DOMAIN=${DOMAIN:-codenvy.local}
PREFIX=${PREFIX:-imgtest-cp}
SUBNET=${SUBNET:-10.247.60}
MASTER_MEMORY=${MASTER_MEMORY:-1g}
AGENT_MEMORY=${AGENT_MEMORY:-512m}
KEEP=${1:-}
NET=$PREFIX
NODES=(master data api site builder1 runner1 datasource analytics)
AGENTS=("${NODES[@]:1}")
LOGS=$(mktemp -d)

ip_of() { local i; for i in "${!NODES[@]}"; do if [ "${NODES[$i]}" = "$1" ]; then echo "$SUBNET.$((10 + i))"; fi; done; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# What codenvy-puppet.yaml's master `files` list says: target, then source under this folder.
MASTER_FILES=(
  /usr/local/sbin/berth-puppetserver puppet/berth-puppetserver.sh
  /usr/local/sbin/codenvy-post-restore puppet/post-restore.sh
  /etc/puppet/puppet.conf puppet/puppet.conf
  /etc/default/puppetserver puppet/puppetserver.default
  /etc/puppet/code/environments/production/hiera.yaml puppet/hiera.yaml
  /etc/puppet/code/environments/production/data/common.yaml puppet/data/common.yaml
  /etc/puppet/code/environments/production/manifests/site.pp puppet/manifests/site.pp
)
for f in puppet/modules/codenvy/*/*; do
  MASTER_FILES+=("/etc/puppet/code/environments/production/modules/codenvy/${f#puppet/modules/codenvy/}" "$f")
done

cleanup() {
  [ "$KEEP" = --keep ] && { echo "kept: containers $PREFIX-*, network $NET"; return; }
  docker rm -f "${NODES[@]/#/$PREFIX-}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$LOGS"
}
trap cleanup EXIT

add_hosts=()
for n in "${NODES[@]}"; do add_hosts+=(--add-host "$n.$DOMAIN:$(ip_of "$n")" --add-host "$n:$(ip_of "$n")"); done

# Puts a file into a created (not yet started) container, as berth's `files` does: owned by root,
# mode 0644 (0755 under /usr/local/sbin), parent folders made as needed.
put() { # container target source
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage$(dirname "$2")"
  cp "$3" "$stage$2"
  case $2 in /usr/local/sbin/*) chmod 0755 "$stage$2" ;; *) chmod 0644 "$stage$2" ;; esac
  # The file alone, no folder entries: docker cp would apply their modes to existing folders.
  tar -C "$stage" -c --owner=0 --group=0 "${2#/}" | docker cp - "$1:/"
  rm -rf "$stage"
}

node_create() { # name memory command...
  local n=$1 mem=$2; shift 2
  docker create --name "$PREFIX-$n" --hostname "$n.$DOMAIN" --network "$NET" --ip "$(ip_of "$n")" \
    "${add_hosts[@]}" --init --memory "$mem" --cpus 1 --pids-limit 1024 \
    -e BERTH_CLUSTER=codenvy -e "BERTH_NODE=$n" -e "BERTH_ROLE=${n%%[0-9]*}" \
    -e "BERTH_DOMAIN=$DOMAIN" -e "BERTH_HOSTNAME=$n.$DOMAIN" \
    "$IMAGE" "$@" >/dev/null
}

t0=$(now)
docker network create --subnet "$SUBNET.0/24" "$NET" >/dev/null

# master
node_create master "$MASTER_MEMORY" /usr/local/sbin/berth-puppetserver
for ((i = 0; i < ${#MASTER_FILES[@]}; i += 2)); do
  put "$PREFIX-master" "${MASTER_FILES[$i]}" "${MASTER_FILES[$((i + 1))]}"
done
tm=$(now)
docker start "$PREFIX-master" >/dev/null
until docker logs "$PREFIX-master" 2>&1 | grep -q 'Puppet Server has successfully started'; do
  if [ "$(docker inspect -f '{{.State.Running}}' "$PREFIX-master")" != true ]; then
    docker logs --tail 40 "$PREFIX-master"; echo "master stopped"; exit 1
  fi
  sleep 0.5
done
master_ready=$(since "$tm")
echo "master ready in $master_ready s ($(docker stats --no-stream --format '{{.MemUsage}}' "$PREFIX-master"))"

# agents: created with the restore hook, started, then the bootstrap in parallel
SITE_COMMAND='if [ -e /etc/nginx/sites-enabled/codenvy.conf ]; then nginx; fi; exec sleep infinity'
for n in "${AGENTS[@]}"; do
  if [ "$n" = site ]; then node_create "$n" "$AGENT_MEMORY" sh -c "$SITE_COMMAND"
  else node_create "$n" "$AGENT_MEMORY" sleep infinity; fi
  put "$PREFIX-$n" /usr/local/sbin/codenvy-post-restore puppet/post-restore.sh
  docker start "$PREFIX-$n" >/dev/null
done
BOOTSTRAP='puppet agent --test --server "master.$BERTH_DOMAIN" --waitforcert 5 --detailed-exitcodes'
run_agents() { # label
  local label=$1 n pids=()
  for n in "${AGENTS[@]}"; do
    (
      s=$(now)
      set +e
      docker exec "$PREFIX-$n" sh -c "$BOOTSTRAP" >"$LOGS/$label-$n.log" 2>&1
      echo "$? $(since "$s")" >"$LOGS/$label-$n.rc"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
}
ta=$(now)
run_agents first
first_wall=$(since "$ta")
ts=$(now)
run_agents second
second_wall=$(since "$ts")

ok=1
printf '%-11s %-13s %-13s\n' node 'first run' 'second run'
for n in "${AGENTS[@]}"; do
  read -r rc1 s1 <"$LOGS/first-$n.rc"
  read -r rc2 s2 <"$LOGS/second-$n.rc"
  printf '%-11s %5s s (%s)  %5s s (%s)\n' "$n" "$s1" "exit $rc1" "$s2" "exit $rc2"
  case $rc1 in 0 | 2) ;; *) ok=0; tail -20 "$LOGS/first-$n.log" ;; esac
  [ "$rc2" = 0 ] || { ok=0; tail -20 "$LOGS/second-$n.log"; }
  docker exec "$PREFIX-$n" grep -qx "role=${n%%[0-9]*}" /etc/codenvy/role.conf || { ok=0; echo "$n: role.conf is wrong"; }
done
echo "first runs in parallel: $first_wall s wall; second runs: $second_wall s wall"

page=$(curl -fsS "http://$(ip_of site)/")
lines=$(grep -cE "^[a-z]+ [a-z0-9]+\.$DOMAIN [0-9.]+$" <<<"$page" || true)
echo "site page: $lines node lines"
grep -E "^[a-z]+ [a-z0-9]+\.$DOMAIN " <<<"$page"
[ "$lines" = "${#NODES[@]}" ] || ok=0
# After a restart nginx comes back with the node (its command), before any Puppet run.
docker restart -t 3 "$PREFIX-site" >/dev/null
for _ in $(seq 1 20); do curl -fsS -o /dev/null "http://$(ip_of site)/" 2>/dev/null && break; sleep 0.5; done
if curl -fsS "http://$(ip_of site)/" | grep -q "^site site.$DOMAIN "; then echo "site page served again after a restart"
else ok=0; echo "site page not served after a restart"; fi
echo "master memory after the runs: $(docker stats --no-stream --format '{{.MemUsage}}' "$PREFIX-master")"
echo "total: $(since "$t0") s"
[ "$ok" = 1 ] && echo OK || { echo FAILED; exit 1; }
