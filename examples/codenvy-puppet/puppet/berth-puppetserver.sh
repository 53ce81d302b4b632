#!/bin/sh
# The master's command (berth writes it as /usr/local/sbin/berth-puppetserver): writes what
# depends on the cluster's domain, then becomes Puppet Server in the foreground.
#  - autosign.conf: one glob, "*.$BERTH_DOMAIN"; requests from this cluster's names are signed,
#    any other name waits for a person (puppetserver ca sign).
# Nothing else depends on the domain here: in a copy restored under another one, Puppet Server
# finds no certificate for its new FQDN and issues itself one from the CA it keeps (the old one
# stays unused in the ssl dir; the postRestore hook revokes it).
# The JVM is exec'd as the puppet user, with the arguments of Debian's systemd unit, so that
# Docker's init hands it the stop signal (Debian's `puppetserver foreground` keeps a shell and
# runuser between the two, and a stop ends in SIGKILL).
set -eu

domain="${BERTH_DOMAIN:?BERTH_DOMAIN is not set (berth sets it in every node)}"
printf '# Written by berth-puppetserver at start from BERTH_DOMAIN.\n*.%s\n' "$domain" >/etc/puppet/autosign.conf
chmod 0644 /etc/puppet/autosign.conf

set -a
. /etc/default/puppetserver
set +a
install -d -o puppet -g puppet -m 0755 /run/puppetserver
# The CA and the ssl dir are volumes (codenvy-puppet.yaml): a new volume at a path the image lacks
# is root's, and Puppet Server runs as puppet.
install -d -o puppet -g puppet -m 0750 /etc/puppet/puppetserver/ca
chown puppet:puppet /var/lib/puppet/ssl
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
