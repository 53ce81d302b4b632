#!/usr/bin/env bash
# A lab of extra Docker daemons on this machine, each in a network namespace of its own, for the
# tests that stop an engine under a job, and for clusters across several hosts.
#
#   swarm-lab.sh up N        N daemons lab1..labN (idempotent: what runs stays)
#   swarm-lab.sh stop I      SIGTERM daemon I and wait for it to exit (as a host shutting down)
#   swarm-lab.sh start I     start daemon I again on its data (as after a reboot)
#   swarm-lab.sh swarm N     daemons lab1..labN joined into one swarm, lab1 its manager
#   swarm-lab.sh load N IMG… each image copied from this machine's engine into lab1..labN
#   swarm-lab.sh engines N [tls]  an engines file for berth (BERTH_ENGINES) naming lab1..labN
#                            (with tls: lab2..labN reached over tcp:// with TLS, lab1 by socket)
#   swarm-lab.sh down        every daemon, namespace, link, rule and data root removed
#   swarm-lab.sh sock I      the socket of daemon I (DOCKER_HOST=unix://$(swarm-lab.sh sock 1))
#
# Each daemon runs with `nsenter --net=/var/run/netns/berth-labI` — `ip netns exec` would remount
# /sys in a new mount namespace and hide the cgroup mounts, and dockerd refuses to start then —
# with its own data root, exec root, socket and pid file. Its namespace reaches the others over
# the bridge berth-lab0 (10.250.250.0/24, daemon I at .(10+I)); bridged traffic on it is allowed
# in the host's FORWARD chain (the main dockerd sets that chain's policy to DROP). Nothing leaves
# the lab's namespaces. Each daemon also listens on tcp://10.250.250.(10+I):2376 with TLS, client
# certificates required (--tlsverify), from a CA the lab makes under $ROOT/tls: the client's
# ca.pem, cert.pem and key.pem are in $ROOT/tls/client (Docker's DOCKER_CERT_PATH layout).
set -euo pipefail
ROOT=/var/lib/berth-lab
RUN=/var/run/berth-lab
BR=berth-lab0
NET=10.250.250
ns() { echo "berth-lab$1"; }
sock() { echo "$RUN/lab$1.sock"; }
pidfile() { echo "$RUN/lab$1.pid"; }

ping_daemon() { curl -sf --unix-socket "$(sock "$1")" http://localhost/_ping >/dev/null 2>&1; }

# Running, and not a zombie (nothing here may reap a daemon whose starter has exited).
alive() { grep -qs '^State:[[:space:]]*[^Z]' "/proc/$1/status"; }

# A daemon that was killed leaves its containerd's pid file, and the process as a zombie when
# nothing reaps it: the next dockerd would wait for that containerd. A live one is killed first.
stale_containerd() {
  local f="$RUN/lab$1/containerd/containerd.pid" p
  p=$(cat "$f" 2>/dev/null) || return 0
  if [ -n "$p" ] && alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
  rm -f "$f"
}

# The lab's CA (once), a server certificate for daemon I (its address as subject alt name), and the
# client's certificate.
certs() {
  local i=$1 t="$ROOT/tls"
  mkdir -p "$t/client"
  if [ ! -f "$t/ca.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-lab-ca \
      -keyout "$t/ca-key.pem" -out "$t/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=berth -keyout "$t/client/key.pem" -out "$t/client.csr" 2>/dev/null
    openssl x509 -req -in "$t/client.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial -days 2 \
      -extfile <(echo extendedKeyUsage=clientAuth) -out "$t/client/cert.pem" 2>/dev/null
    cp "$t/ca.pem" "$t/client/ca.pem"
  fi
  [ -f "$t/lab$i-cert.pem" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "/CN=lab$i" -keyout "$t/lab$i-key.pem" -out "$t/lab$i.csr" 2>/dev/null
  openssl x509 -req -in "$t/lab$i.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$NET.$((10 + i))") \
    -out "$t/lab$i-cert.pem" 2>/dev/null
}

start_daemon() {
  local i=$1
  ping_daemon "$i" && return 0
  mkdir -p "$ROOT/lab$i" "$RUN/lab$i"
  rm -f "$(pidfile "$i")"
  stale_containerd "$i"
  certs "$i"
  nsenter --net="/var/run/netns/$(ns "$i")" dockerd \
    --data-root "$ROOT/lab$i" --exec-root "$RUN/lab$i" -H "unix://$(sock "$i")" \
    -H "tcp://$NET.$((10 + i)):2376" --tlsverify --tlscacert "$ROOT/tls/ca.pem" \
    --tlscert "$ROOT/tls/lab$i-cert.pem" --tlskey "$ROOT/tls/lab$i-key.pem" \
    --pidfile "$(pidfile "$i")" --bip 172.31.$((100 + i)).1/24 \
    >>"$ROOT/lab$i.log" 2>&1 &
  for _ in $(seq 1 60); do ping_daemon "$i" && return 0; sleep 0.5; done
  echo "swarm-lab: daemon lab$i did not answer within 30 s; its log:" >&2
  tail -20 "$ROOT/lab$i.log" >&2
  return 1
}

stop_daemon() {
  local i=$1 pid
  pid=$(cat "$(pidfile "$i")" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do alive "$pid" || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
}

up() {
  local n=$1
  command -v nsenter >/dev/null || { echo "swarm-lab: nsenter is missing (apt-get install util-linux)" >&2; exit 1; }
  ip link show "$BR" >/dev/null 2>&1 || { ip link add "$BR" type bridge; ip addr add "$NET.1/24" dev "$BR"; ip link set "$BR" up; }
  iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BR" -o "$BR" -j ACCEPT
  for i in $(seq 1 "$n"); do
    if ! ip netns list | grep -qw "$(ns "$i")"; then
      ip netns add "$(ns "$i")"
      ip link add "veth-lab$i" type veth peer name eth0 netns "$(ns "$i")"
      ip link set "veth-lab$i" master "$BR" up
      ip -n "$(ns "$i")" addr add "$NET.$((10 + i))/24" dev eth0
      ip -n "$(ns "$i")" link set eth0 up
      ip -n "$(ns "$i")" link set lo up
    fi
    start_daemon "$i"
  done
}

dk() { docker -H "unix://$(sock "$1")" "${@:2}"; }

swarm_state() { dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

swarm() {
  local n=$1 token
  [ "$(swarm_state 1)" = active ] || dk 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" >/dev/null
  token=$(dk 1 swarm join-token -q worker)
  for i in $(seq 2 "$n"); do
    [ "$(swarm_state "$i")" = active ] && continue
    dk "$i" swarm join --token "$token" --advertise-addr "$NET.$((10 + i))" --listen-addr "$NET.$((10 + i)):2377" "$NET.11:2377" >/dev/null
  done
}

load() {
  local n=$1; shift
  for img in "$@"; do
    for i in $(seq 1 "$n"); do
      [ -n "$(dk "$i" images -q "$img")" ] && continue
      docker save "$img" | dk "$i" load -q >/dev/null
    done
  done
}

engines() {
  echo "manager: lab1"
  echo "hosts:"
  for i in $(seq 1 "$1"); do
    if [ "${2:-}" = tls ] && [ "$i" -gt 1 ]; then
      echo "  lab$i: { url: 'tcp://$NET.$((10 + i)):2376', tls: $ROOT/tls/client }"
    else
      echo "  lab$i: unix://$(sock "$i")"
    fi
  done
}

down() {
  for p in "$RUN"/lab*.pid; do
    [ -e "$p" ] || continue
    i=${p##*/lab}; i=${i%.pid}
    stop_daemon "$i"
  done
  # The shims of a daemon that was killed outlive it (and hold its containers).
  pkill -KILL -f "containerd-shim.* -address $RUN/" 2>/dev/null || true
  for n in $(ip netns list | awk '{print $1}' | grep '^berth-lab' || true); do ip netns del "$n"; done
  for l in $(ip -o link show | awk -F': ' '{print $2}' | grep '^veth-lab' | sed 's/@.*//' || true); do ip link del "$l" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  while iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null; do iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT; done
  # Data roots hold overlay mounts of the containers the daemons ran; exec roots, the network
  # namespaces of a daemon that was killed (/var/run is /run in /proc/mounts).
  for d in "$ROOT" "$(realpath -m "$RUN")"; do
    { grep -o " $d/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  rm -rf "$ROOT" "$RUN"
}

case "${1:-}" in
  up) up "${2:?how many daemons}" ;;
  stop) stop_daemon "${2:?which daemon}" ;;
  start) start_daemon "${2:?which daemon}" ;;
  swarm) swarm "${2:?how many daemons}" ;;
  load) load "${2:?how many daemons}" "${@:3}" ;;
  engines) engines "${2:?how many daemons}" "${3:-}" ;;
  down) down ;;
  sock) sock "${2:?which daemon}" ;;
  *) echo "usage: swarm-lab.sh up N | swarm N | load N IMAGE… | engines N [tls] | stop I | start I | down | sock I" >&2; exit 2 ;;
esac
