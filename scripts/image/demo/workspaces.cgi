#!/bin/sh
# The single-node (Eclipse Che) case's page at "/": the workspaces in /projects, one per line with
# its size in bytes, so a browser (or curl) on the host sees what the IDE holds.
printf 'Content-Type: text/plain\r\n\r\n'
echo "workspaces on $(hostname):"
cd /projects 2>/dev/null || exit 0
for f in *; do
  [ -e "$f" ] || continue
  if [ -d "$f" ]; then echo "$f/"; else echo "$f $(wc -c <"$f")"; fi
done
