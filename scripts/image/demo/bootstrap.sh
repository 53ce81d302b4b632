#!/bin/sh
# The demo installer, in the shape of the 2015 Codenvy Puppet flow: the master publishes one
# configuration per role over HTTP; every other node fetches its own from master.<domain> BY
# NAME (so a node whose /etc/hosts lacks the master fails here, as it did then), writes it
# and starts its role service. `--standalone` is the single-node Eclipse Che case: no master.
. /opt/demo/lib.sh

# Roles of the Codenvy on-prem topology; any other role gets default.conf.
KNOWN_ROLES='master data api site builder runner datasource analytics'

# One role's configuration, as the master issues it.
render() {
  cat <<CONF
# demo configuration for role $1, issued by $2
profile=$1
domain=$DOMAIN
master=$MASTER
port=$3
issued=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CONF
}

# Writes the node's configuration: the issued text, then what this node knows about itself.
write_conf() { # <issued text> <source>
  mkdir -p "$(dirname "$CONF")"
  printf '%s\nrole=%s\nnode=%s\nsource=%s\n' "$1" "$ROLE" "$NODE" "$2" >"$CONF.new"
  mv "$CONF.new" "$CONF"
}

publish() {
  mkdir -p "$PUPPET_DIR"
  for role in $KNOWN_ROLES; do
    port=8080
    [ "$role" = master ] && port=8140
    render "$role" "$MASTER" $port >"$PUPPET_DIR/$role.conf"
  done
  render default "$MASTER" 8080 >"$PUPPET_DIR/default.conf"
  write_conf "$(cat "$PUPPET_DIR/master.conf")" "$PUPPET_DIR/master.conf"
  say "published configuration for $KNOWN_ROLES (and default) on port 8140"
}

# True when /etc/hosts names the master. Checked before every fetch: on a user-defined network
# Docker's DNS also answers master.<domain> (the daemon adds each hostname as an alias), which
# would hide exactly the wiring mistake this bootstrap exists to reveal.
wired() {
  awk -v name="$MASTER" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == name) found = 1 }
    END { exit !found }' /etc/hosts
}

# Fetches the configuration for $ROLE from the master into $RUN_DIR/fetch. A 404 means the
# master has no file for this role: take default.conf. Anything else is retried until the
# deadline: phases run in order, so the master is up and a short wait is enough (dynamic mode
# may still be writing /etc/hosts).
fetch() {
  deadline=$(($(date +%s) + 5))
  name=$ROLE
  while :; do
    url=http://$MASTER:8140/$name.conf
    hint="is $MASTER in /etc/hosts with its current IP?"
    if ! wired; then
      err="no entry for $MASTER in /etc/hosts"
      hint='the peers are not wired into /etc/hosts'
    else
      # timeout bounds a lookup or a connection that nothing answers.
      err=$(timeout 3 wget -q -O - "$url" 2>&1 >"$RUN_DIR/fetch")
      case $? in
        0) FETCHED_FROM=$url && return 0 ;;
        124 | 143) err='no answer within 3 s' ;;
        *) err=$(echo "$err" | tail -n 1 | sed 's/^wget: //') ;;
      esac
      case "$err" in
        *' 404 '*) if [ "$name" != default ]; then name=default && continue; fi ;;
      esac
    fi
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 1
  done
  die "cannot fetch configuration from $MASTER:8140: $err ($hint)"
}

record() {
  mkdir -p "$(dirname "$RECORDS")"
  n=$(($(cat "$RECORDS" 2>/dev/null | wc -l) + 1))
  echo "record $n $NODE $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$RECORDS"
  say "data: wrote record $n to $RECORDS"
}

welcome() {
  [ -d /projects ] && [ ! -e /projects/welcome.txt ] || return 0
  echo "Welcome to $NODE: your workspaces live in /projects." >/projects/welcome.txt
  say "wrote /projects/welcome.txt"
}

mkdir -p "$RUN_DIR"
case "$1" in
  --standalone)
    write_conf "$(render "$ROLE" "$NODE (standalone)" $PORT)" standalone
    say "generated standalone configuration for $ROLE"
    welcome
    ;;
  '')
    if [ "$ROLE" = master ]; then
      publish
    else
      [ -n "$DOMAIN" ] || die "no domain: set BERTH_DOMAIN or a hostname with a domain"
      fetch
      write_conf "$(cat "$RUN_DIR/fetch")" "$FETCHED_FROM"
      say "fetched configuration for $ROLE from $MASTER"
    fi
    ;;
  *) die "usage: bootstrap.sh [--standalone]" ;;
esac

[ "$ROLE" = data ] && record
/opt/demo/service.sh start || exit 1
say "$NODE ready ($ROLE)"
