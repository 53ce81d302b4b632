#!/bin/sh
# Healthy = bootstrapped (configuration written) and the role service answers locally.
. /opt/demo/lib.sh

[ -f "$CONF" ] || die "unhealthy: not bootstrapped ($CONF is missing)"
timeout 2 wget -q -O /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null ||
  die "unhealthy: $ROLE service does not answer on 127.0.0.1:$PORT"
say "ok: $ROLE on $NODE answers on port $PORT"
