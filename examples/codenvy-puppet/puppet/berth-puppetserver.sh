#!/bin/sh
# The master's command (berth writes it as /usr/local/sbin/berth-puppetserver): prepares what
# depends on the cluster's domain, then becomes Puppet Server in the foreground.
#  - autosign.conf: one glob, "*.$BERTH_DOMAIN"; requests from this cluster's names are signed,
#    any other name waits for a person (puppetserver ca sign).
#  - the server's own certificate names its FQDN. In a copy restored under another domain the
#    FQDN changed: the old host certificate and key are put aside (the CA itself is kept), and
#    Puppet Server issues itself a new one from the same CA as it starts.
# The JVM is exec'd as the puppet user (as Debian's systemd unit runs it), so Docker's init
# hands it the stop signal directly.
set -eu

domain="${BERTH_DOMAIN:?BERTH_DOMAIN is not set (berth sets it in every node)}"
ssldir=/var/lib/puppet/ssl
cadir=/etc/puppet/puppetserver/ca
fqdn=$(hostname -f 2>/dev/null || hostname)

printf '# Written by berth-puppetserver at start from BERTH_DOMAIN.\n*.%s\n' "$domain" >/etc/puppet/autosign.conf
chmod 0644 /etc/puppet/autosign.conf

if [ -f "$cadir/ca_crt.pem" ] && [ ! -f "$ssldir/certs/$fqdn.pem" ]; then
  aside="$ssldir/replaced-$(date -u +%Y%m%dT%H%M%SZ)"
  echo "berth-puppetserver: no certificate for $fqdn (restored under another name?): old host files go to $aside"
  mkdir -p "$aside"
  for dir in certs private_keys public_keys certificate_requests; do
    for f in "$ssldir/$dir"/*.pem; do
      [ -e "$f" ] || continue
      case "$(basename "$f")" in ca.pem) continue ;; esac
      mkdir -p "$aside/$dir" && mv "$f" "$aside/$dir/"
    done
  done
  chown -R puppet:puppet "$aside"
fi

set -a
. /etc/default/puppetserver
set +a
install -d -o puppet -g puppet -m 0755 /run/puppetserver
cd "$INSTALL_DIR"
umask 027
# shellcheck disable=SC2086 # JAVA_ARGS and TK_ARGS are word lists, as Debian's unit reads them
exec setpriv --reuid=puppet --regid=puppet --init-groups -- \
  /usr/bin/java $JAVA_ARGS \
  -Dlogappender=STDOUT \
  -Djruby.lib=/usr/share/jruby/lib \
  -XX:+CrashOnOutOfMemoryError \
  -XX:ErrorFile=/var/log/puppetserver/puppetserver_err_pid%p.log \
  -jar "$INSTALL_DIR/puppetserver.jar" \
  --config "$CONFIG" \
  --bootstrap-config "$BOOTSTRAP_CONFIG" \
  $TK_ARGS
