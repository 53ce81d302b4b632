#!/usr/bin/env bash
# The codenvy-puppet scenario with plain docker commands, as berth will run it from
# codenvy-puppet.yaml: one image, eight nodes on a network of fixed addresses, every peer in every
# /etc/hosts (--add-host, as berth's static mode does), the master's files put in before it
# starts, the master's command, the seven agents' first Puppet runs in parallel, a second run on
# each (must change nothing: exit 0), the site's page fetched from this host, the site restarted.
# With --restore-as D: every node committed (a snapshot), the copy started under domain D on
# another network, the postRestore hook run in its eight nodes at once, as berth does, and the
# copy checked (new names and addresses on the page, the CA holding only names under D).
# Prints the figures as it goes.
#
#   examples/codenvy-puppet/prototype.sh [--keep] [--restore-as other.local]
#
# Needs the image: berth image build-debian --tag berth/codenvy-puppet:1 \
#   --packages puppetserver,puppet-agent,nginx-light,ca-certificates,procps,iproute2
# Environment: IMAGE, DOMAIN (codenvy.local), PREFIX (imgtest-cp: names every container, network
# and snapshot image), SUBNET and COPY_SUBNET (first three octets of a free /24: 10.247.60 and
# 10.247.61), MASTER_MEMORY (1g), AGENT_MEMORY (512m).
set -euo pipefail
cd "$(dirname "$0")"

IMAGE=${IMAGE:-berth/codenvy-puppet:1}
DOMAIN=${DOMAIN:-codenvy.local}
PREFIX=${PREFIX:-imgtest-cp}
SUBNET=${SUBNET:-10.247.60}
COPY_SUBNET=${COPY_SUBNET:-10.247.61}
MASTER_MEMORY=${MASTER_MEMORY:-1g}
AGENT_MEMORY=${AGENT_MEMORY:-512m}
KEEP='' COPY_DOMAIN=''
while [ $# -gt 0 ]; do
  case $1 in
    --keep) KEEP=1 ;;
    --restore-as) COPY_DOMAIN=${2:?--restore-as needs a domain}; shift ;;
    *) echo "usage: $0 [--keep] [--restore-as DOMAIN]" >&2; exit 2 ;;
  esac
  shift
done
NODES=(master data api site builder1 runner1 datasource analytics)
AGENTS=("${NODES[@]:1}")
HOOK=/usr/local/sbin/codenvy-post-restore
BOOTSTRAP='puppet agent --test --server "master.$BERTH_DOMAIN" --waitforcert 5 --detailed-exitcodes'
SITE_COMMAND='if [ -e /etc/nginx/sites-enabled/codenvy.conf ]; then nginx; fi; exec sleep infinity'
LOGS=$(mktemp -d)
ok=1

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { ok=0; echo "FAIL: $*"; }

# What codenvy-puppet.yaml's master `files` list says: target, then source under this folder.
MASTER_FILES=(
  "$HOOK" puppet/post-restore.sh
  /usr/local/sbin/berth-puppetserver puppet/berth-puppetserver.sh
  /etc/puppet/puppet.conf puppet/puppet.conf
  /etc/default/puppetserver puppet/puppetserver.default
  /etc/puppet/code/environments/production/hiera.yaml puppet/hiera.yaml
  /etc/puppet/code/environments/production/data/common.yaml puppet/data/common.yaml
  /etc/puppet/code/environments/production/manifests/site.pp puppet/manifests/site.pp
)
for f in puppet/modules/codenvy/*/*; do
  MASTER_FILES+=("/etc/puppet/code/environments/production/modules/codenvy/${f#puppet/modules/codenvy/}" "$f")
done

# A cluster of these eight nodes: its name prefix, domain, subnet and image for node N.
C_PREFIX='' C_DOMAIN='' C_SUBNET='' C_IMAGE=''
use() { C_PREFIX=$1 C_DOMAIN=$2 C_SUBNET=$3 C_IMAGE=$4; }
ip_of() { local i; for i in "${!NODES[@]}"; do if [ "${NODES[$i]}" = "$1" ]; then echo "$C_SUBNET.$((10 + i))"; fi; done; }
image_of() { if [ "$C_IMAGE" = snapshot ]; then echo "$PREFIX-snap/$1:1"; else echo "$C_IMAGE"; fi; }

cleanup() {
  if [ -n "$KEEP" ]; then echo "kept: containers $PREFIX-*, networks $PREFIX and $PREFIX-copy"; return; fi
  local n
  for n in "${NODES[@]}"; do docker rm -f "$PREFIX-$n" "$PREFIX-copy-$n" >/dev/null 2>&1 || true; done
  docker network rm "$PREFIX" "$PREFIX-copy" >/dev/null 2>&1 || true
  for n in "${NODES[@]}"; do docker rmi "$PREFIX-snap/$n:1" >/dev/null 2>&1 || true; done
  rm -rf "$LOGS"
}
trap cleanup EXIT

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

create_node() { # node
  local n=$1 mem=$AGENT_MEMORY hosts=() p cmd=(sleep infinity)
  for p in "${NODES[@]}"; do hosts+=(--add-host "$p.$C_DOMAIN:$(ip_of "$p")" --add-host "$p:$(ip_of "$p")"); done
  case $n in
    master) mem=$MASTER_MEMORY cmd=(/usr/local/sbin/berth-puppetserver) ;;
    site) cmd=(sh -c "$SITE_COMMAND") ;;
  esac
  docker create --name "$C_PREFIX-$n" --hostname "$n.$C_DOMAIN" --network "$C_PREFIX" --ip "$(ip_of "$n")" \
    "${hosts[@]}" --init --memory "$mem" --cpus 1 --pids-limit 1024 \
    -e "BERTH_CLUSTER=$C_PREFIX" -e "BERTH_NODE=$n" -e "BERTH_ROLE=${n%%[0-9]*}" \
    -e "BERTH_DOMAIN=$C_DOMAIN" -e "BERTH_HOSTNAME=$n.$C_DOMAIN" \
    "$(image_of "$n")" "${cmd[@]}" >/dev/null
}

start_master() { # prints the seconds to "successfully started"
  local t
  t=$(now)
  docker start "$C_PREFIX-master" >/dev/null
  until docker logs "$C_PREFIX-master" 2>&1 | grep -q 'Puppet Server has successfully started'; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$C_PREFIX-master")" != true ]; then
      docker logs --tail 40 "$C_PREFIX-master" >&2; echo "master stopped" >&2; exit 1
    fi
    sleep 0.5
  done
  since "$t"
}

# Runs a command in the given nodes at once; "<exit> <seconds>" per node in $LOGS/<label>-<node>.rc.
run_in() { # label command nodes...
  local label=$1 cmd=$2 n pids=(); shift 2
  for n in "$@"; do
    (
      s=$(now)
      set +e
      timeout 300 docker exec "$C_PREFIX-$n" sh -c "$cmd" >"$LOGS/$label-$n.log" 2>&1
      echo "$? $(since "$s")" >"$LOGS/$label-$n.rc"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
}
result() { cat "$LOGS/$1-$2.rc"; } # label node -> "exit seconds"

check_page() { # lines expected under $C_DOMAIN
  local page lines
  page=$(curl -fsS "http://$(ip_of site)/")
  lines=$(grep -cE "^[a-z]+ [a-z0-9]+\.${C_DOMAIN//./\\.} [0-9.]+$" <<<"$page" || true)
  echo "site page: $lines node lines"
  grep -E "^[a-z]+ [a-z0-9]+\.${C_DOMAIN//./\\.} " <<<"$page" | sed 's/^/  /'
  [ "$lines" = "${#NODES[@]}" ] || fail "the page has $lines node lines, not ${#NODES[@]}"
  grep -qx "site site.$C_DOMAIN $(ip_of site)" <<<"$page" || fail "the page does not give site's current address"
}

t0=$(now)
use "$PREFIX" "$DOMAIN" "$SUBNET" "$IMAGE"
docker network create --subnet "$SUBNET.0/24" "$PREFIX" >/dev/null

create_node master
for ((i = 0; i < ${#MASTER_FILES[@]}; i += 2)); do put "$PREFIX-master" "${MASTER_FILES[$i]}" "${MASTER_FILES[$((i + 1))]}"; done
echo "master ready in $(start_master) s ($(docker stats --no-stream --format '{{.MemUsage}}' "$PREFIX-master"))"

for n in "${AGENTS[@]}"; do
  create_node "$n"
  put "$PREFIX-$n" "$HOOK" puppet/post-restore.sh
  docker start "$PREFIX-$n" >/dev/null
done
ta=$(now); run_in first "$BOOTSTRAP" "${AGENTS[@]}"; first_wall=$(since "$ta")
ts=$(now); run_in second "$BOOTSTRAP" "${AGENTS[@]}"; second_wall=$(since "$ts")

printf '%-11s %-18s %-18s\n' node 'first run' 'second run'
for n in "${AGENTS[@]}"; do
  read -r rc1 s1 < <(result first "$n")
  read -r rc2 s2 < <(result second "$n")
  printf '%-11s %6s s (exit %s)  %6s s (exit %s)\n' "$n" "$s1" "$rc1" "$s2" "$rc2"
  case $rc1 in 0 | 2) ;; *) fail "$n: first run exit $rc1"; tail -20 "$LOGS/first-$n.log" ;; esac
  [ "$rc2" = 0 ] || { fail "$n: second run exit $rc2 (not idempotent?)"; tail -20 "$LOGS/second-$n.log"; }
  docker exec "$PREFIX-$n" grep -qx "role=${n%%[0-9]*}" /etc/codenvy/role.conf || fail "$n: role.conf is wrong"
done
echo "first runs in parallel: $first_wall s wall; second runs: $second_wall s wall"
check_page
# After a restart nginx comes back with the node (its command), before any Puppet run.
docker restart -t 3 "$PREFIX-site" >/dev/null
for _ in $(seq 1 20); do curl -fsS -o /dev/null "http://$(ip_of site)/" 2>/dev/null && break; sleep 0.5; done
curl -fsS "http://$(ip_of site)/" | grep -q "^site site.$DOMAIN " && echo "site page served again after a restart" ||
  fail "site page not served after a restart"
echo "master memory after the runs: $(docker stats --no-stream --format '{{.MemUsage}}' "$PREFIX-master")"
echo "install total: $(since "$t0") s"
# Autosign is for *.$DOMAIN only: a request for another name waits for a person.
intruder=$(docker exec "$PREFIX-data" sh -c 'puppet agent --test --certname intruder.example.com \
  --ssldir /tmp/intruder-ssl --server "master.$BERTH_DOMAIN" --waitforcert 0 2>&1; echo "exit $?"')
if grep -q 'exit 1' <<<"$intruder" && docker exec "$PREFIX-master" test -f /etc/puppet/puppetserver/ca/requests/intruder.example.com.pem &&
  ! docker exec "$PREFIX-master" test -f /etc/puppet/puppetserver/ca/signed/intruder.example.com.pem; then
  echo "a request for intruder.example.com is left unsigned"
else
  fail "a request outside $DOMAIN was signed: $intruder"
fi

if [ -n "$COPY_DOMAIN" ]; then
  echo "--- restore as $COPY_DOMAIN"
  tc=$(now)
  for n in "${NODES[@]}"; do docker commit "$PREFIX-$n" "$PREFIX-snap/$n:1" >/dev/null; done
  echo "committed the eight nodes in $(since "$tc") s"
  use "$PREFIX-copy" "$COPY_DOMAIN" "$COPY_SUBNET" snapshot
  docker network create --subnet "$COPY_SUBNET.0/24" "$PREFIX-copy" >/dev/null
  for n in "${NODES[@]}"; do create_node "$n"; done
  echo "copy's master ready in $(start_master) s"
  for n in "${AGENTS[@]}"; do docker start "$PREFIX-copy-$n" >/dev/null; done
  th=$(now); run_in hook "$HOOK" "${NODES[@]}"; hook_wall=$(since "$th")
  for n in "${NODES[@]}"; do
    read -r rc s < <(result hook "$n")
    printf '  hook on %-11s %6s s (exit %s): %s\n' "$n" "$s" "$rc" "$(grep -h '^codenvy-post-restore' "$LOGS/hook-$n.log" | tr '\n' ' ' | cut -c1-110)"
    [ "$rc" = 0 ] || { fail "hook on $n: exit $rc"; tail -20 "$LOGS/hook-$n.log"; }
  done
  echo "hooks in parallel: $hook_wall s wall (berth allows each 120 s)"
  check_page
  docker exec "$PREFIX-copy-api" grep -qx "hostname=api.$COPY_DOMAIN" /etc/codenvy/role.conf || fail "api's role.conf names the old host"
  signed=$(docker exec "$PREFIX-copy-master" ls /etc/puppet/puppetserver/ca/signed)
  others=$(grep -vc "\.${COPY_DOMAIN//./\\.}\.pem$" <<<"$signed" || true)
  echo "CA: $(wc -l <<<"$signed") certificates, $others outside $COPY_DOMAIN"
  [ "$others" = 0 ] || fail "the copy's CA still signs other names"
  run_in again "$BOOTSTRAP" "${AGENTS[@]}"
  for n in "${AGENTS[@]}"; do read -r rc s < <(result again "$n"); [ "$rc" = 0 ] || fail "$n: a run after the hook exit $rc"; done
  echo "a run after the hook changes nothing on any agent"
fi

echo "total: $(since "$t0") s"
[ "$ok" = 1 ] && echo OK || { echo FAILED; exit 1; }
