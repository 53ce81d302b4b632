# Shared by every demo script (sourced, not run). berth passes the node's identity in the
# environment; the hostname fallback keeps the image usable with a plain `docker run -h`.

# Split the kernel's hostname rather than ask `hostname -d`, which needs a lookup to answer.
FQDN=${BERTH_HOSTNAME:-$(hostname)}
NODE=${BERTH_NODE:-${FQDN%%.*}}
# runner1 → runner: Codenvy named nodes <role><n>, so the role is the name without its digits.
ROLE=${BERTH_ROLE:-$(echo "$NODE" | sed 's/[0-9]*$//')}
case "$FQDN" in *.*) DOMAIN=${BERTH_DOMAIN:-${FQDN#*.}} ;; *) DOMAIN=$BERTH_DOMAIN ;; esac
MASTER=master.$DOMAIN

CONF=/etc/demo/role.conf
PUPPET_DIR=/srv/puppet
WWW_DIR=/var/www/demo
RECORDS=/var/lib/demo/records
RUN_DIR=/run/demo
LOG_DIR=/var/log/demo

# 8140 is the Puppet master's port; every other role serves its one page on 8080.
if [ "$ROLE" = master ]; then PORT=8140; else PORT=8080; fi

# Every wget here is bounded by `timeout`: busybox 1.35's own `wget -T` dies with a segfault.

say() { echo "$(basename "$0" .sh): $*"; }
die() {
  echo "$(basename "$0" .sh): $*" >&2
  exit 1
}

# The role ends up in a URL and a file name: refuse anything that is not a plain name.
case "$ROLE" in
  '' | *[!a-z0-9-]*) die "invalid role '$ROLE' (set BERTH_ROLE to [a-z0-9-]+)" ;;
esac
