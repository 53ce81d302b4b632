# The cluster's nodes as berth wired them into an /etc/hosts text, in the file's order:
# [{ role, name, fqdn, ip }]. berth's managed block ("# berth:begin ..." ... "# berth:end", one
# "ip fqdn name" line per node) is read when there is one; without it (berth's static mode hands
# the same entries to Docker, which writes one name per line) every line is. Only names directly
# under $domain count, each once, the first address wins: as the C library resolves them.
function codenvy::berth_nodes(String $hosts, String $domain) >> Array[Hash] {
  $lines = $hosts.split("\n")
  $begin = $lines.index |$line| { $line =~ /^# berth:begin/ }
  $end = $lines.index |$line| { $line =~ /^# berth:end/ }
  $chosen = ($begin =~ Integer and $end =~ Integer and $end > $begin) ? {
    true    => $lines[$begin + 1, $end - $begin - 1],
    default => $lines,
  }
  $fields = $chosen.map |$line| { $line.regsubst(/#.*$/, '').strip.split(/\s+/) }
  $ipv4 = $fields.filter |$f| { $f.length >= 2 and $f[0] =~ /^\d+\.\d+\.\d+\.\d+$/ }
  $found = $ipv4.reduce({}) |$acc, $f| {
    $names = $f[1, -1].map |$n| { $n.downcase }.filter |$n| {
      "${n.split(/\./)[0]}.${domain}" == $n and !($n in $acc)
    }
    $acc + Hash($names.map |$n| { [$n, $f[0]] })
  }
  $found.map |$fqdn, $ip| {
    $name = $fqdn.split(/\./)[0]
    $node = { 'role' => $name.regsubst(/\d+$/, ''), 'name' => $name, 'fqdn' => $fqdn, 'ip' => $ip }
    $node
  }
}
