#!/usr/bin/env bash
# Makes a fresh Debian host ready for berth: the Docker engine from Debian's docker.io (started
# here when nothing answers on the socket; there may be no systemd), and busybox-static for the
# offline demo image; openssh-server for the ssh dispatcher's tests. Safe to run again: it installs and starts only what is missing.
set -euo pipefail
SOCK=/var/run/docker.sock
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
if ! [ -x /bin/busybox ] || ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
  need+=(busybox-static)
fi
command -v file >/dev/null 2>&1 || need+=(file)
# The ssh dispatcher's tests run a real sshd on 127.0.0.1.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# The lab of extra daemons (scripts/host/swarm-lab.sh) needs ip and iptables.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1 && ! curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 && break
    sleep 1
  done
  curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null || {
    echo "setup: dockerd did not answer on $SOCK within 60 s; its log:"; tail -20 /var/log/berth-dockerd.log; exit 1; }
fi
echo "setup: Docker $(curl -s --unix-socket "$SOCK" http://localhost/version | sed -E 's/.*"Version":"([^"]+)".*"ApiVersion":"([^"]+)".*/\1 (API \2)/')"
