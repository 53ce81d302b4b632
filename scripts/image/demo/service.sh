#!/bin/sh
# Starts, restarts or stops this node's role service: busybox httpd on $PORT. Restarting
# instead of failing on a busy port is what lets bootstrap run twice and init run it on boot.
. /opt/demo/lib.sh

PIDFILE=$RUN_DIR/httpd.pid

# A pid file can outlive its process (and a zombie keeps its pid): only a live httpd counts.
running() { [ -f "$PIDFILE" ] && grep -qs httpd "/proc/$(cat "$PIDFILE")/cmdline"; }

stop() {
  running || return 0
  pid=$(cat "$PIDFILE")
  kill "$pid" 2>/dev/null
  i=0
  while grep -qs httpd "/proc/$pid/cmdline" && [ $i -lt 20 ]; do
    usleep 100000
    i=$((i + 1))
  done
  rm -f "$PIDFILE"
}

docroot() {
  if [ "$ROLE" = master ]; then dir=$PUPPET_DIR; else dir=$WWW_DIR; fi
  mkdir -p "$dir"
  printf 'role=%s\nnode=%s\n' "$ROLE" "$NODE" >"$dir/health"
  if [ "$ROLE" = data ]; then ln -sf "$RECORDS" "$dir/records"; fi
  # A node with workspaces (Che) lists them at "/": httpd runs cgi-bin/index.cgi for a directory
  # without an index.html.
  if [ -d /projects ]; then
    mkdir -p "$dir/cgi-bin"
    cp /opt/demo/workspaces.cgi "$dir/cgi-bin/index.cgi"
  fi
  echo "$dir"
}

start() {
  stop
  dir=$(docroot)
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # -f keeps httpd in the foreground so $! is its pid; the redirections let the caller's
  # exec stream end (docker exec waits for every holder of its stdout to close it).
  httpd -f -p "$PORT" -h "$dir" </dev/null >>"$LOG_DIR/httpd.log" 2>&1 &
  echo $! >"$PIDFILE"
  i=0
  until timeout 1 wget -q -O /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 20 ] || die "httpd did not answer on port $PORT (see $LOG_DIR/httpd.log)"
    usleep 100000
  done
  say "$ROLE service listening on port $PORT"
}

case "$1" in
  start | restart) start ;;
  stop) stop ;;
  status) running ;;
  *) die "usage: service.sh start|stop|status" ;;
esac
