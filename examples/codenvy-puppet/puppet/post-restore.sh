#!/bin/bash
# berth's postRestore hook for codenvy-puppet (written into every node as
# /usr/local/sbin/codenvy-post-restore; berth runs it in each restored node, all nodes at once,
# each within 120 s). A restore may change the domain (berth restore --as NEW --domain D) and the
# addresses; the certificates in the snapshot name the old FQDNs.
#  - master: Puppet Server issued itself a certificate for its new FQDN as it started (same CA);
#    here it waits for the server and revokes and removes, in the CA, every certificate of a name
#    outside *.$BERTH_DOMAIN: the old names, whose keys the original cluster still holds.
#  - agent: when the node holds no certificate for its certname (its FQDN now) but one for another
#    name, its ssl dir is cleared (the old key, certificate, CA copy and CRL; an agent would also
#    just request a certificate for the new name, but the old key has no use left); then it runs
#    again (a new key and request, signed by the master's autosign) and converges the node on
#    the new names and addresses (the site's page among them). Exit 0 and 2 are success.
set -euo pipefail

domain=${BERTH_DOMAIN:?BERTH_DOMAIN is not set (berth sets it in every node)}
master="master.$domain"
say() { echo "codenvy-post-restore: $*"; }

wait_for_port() { # host port seconds
  local end=$((SECONDS + $3))
  until timeout 2 bash -c "</dev/tcp/$1/$2" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || { say "$1:$2 does not answer after $3 s"; return 1; }
    sleep 1
  done
}

if [ -d /etc/puppet/puppetserver/ca/signed ]; then
  wait_for_port 127.0.0.1 8140 60
  stale=()
  for cert in /etc/puppet/puppetserver/ca/signed/*.pem; do
    [ -e "$cert" ] || continue
    name=$(basename "$cert" .pem)
    case "$name" in *".$domain") ;; *) stale+=("$name") ;; esac
  done
  if [ "${#stale[@]}" -eq 0 ]; then
    say "every certificate in the CA is under $domain"
    exit 0
  fi
  say "revoking and removing the certificates of other names: ${stale[*]}"
  puppetserver ca clean --certname "$(IFS=,; echo "${stale[*]}")"
  exit 0
fi

certname=$(puppet config print certname)
ssldir=$(puppet config print ssldir)
if [ ! -f "$ssldir/certs/$certname.pem" ]; then
  others=$(find "$ssldir/certs" -name '*.pem' ! -name ca.pem -printf '%f ' 2>/dev/null || true)
  if [ -n "$others" ]; then
    say "no certificate for $certname, one for ${others% }: clearing $ssldir"
    find "$ssldir" -mindepth 1 -delete
  fi
fi

wait_for_port "$master" 8140 60
rc=0
puppet agent --test --server "$master" --waitforcert 5 --detailed-exitcodes || rc=$?
case $rc in
  0 | 2) say "agent run: exit $rc (ok)" ;;
  *) say "agent run failed: exit $rc"; exit "$rc" ;;
esac
