# Role site, nginx serving a page of every node of the cluster, one line per node:
# "<role> <fqdn> <ip>". The list is what the master knows when it compiles this catalog: its own
# /etc/hosts, as berth wired it (file() reads the master's filesystem, not the agent's). No
# PuppetDB, no exported resources: a node is on the page once berth has wired it, whether or not
# its agent has run yet.
#
# There is no systemd in the container (no init but Docker's): nginx is a `service` with the
# `base` provider (started by its own binary, which daemonizes; found by pgrep; reloaded when its
# configuration changes). A new page needs no reload: nginx reads the file on each request.
class codenvy::site (
  Integer $port,
  String $service,
  Pattern[/^\//] $docroot,
) {
  codenvy::role_conf { 'site':
    settings => { 'port' => $port, 'service' => $service, 'docroot' => $docroot },
  }

  $nodes = codenvy::berth_nodes(file('/etc/hosts'), $trusted['domain'])

  file { $docroot:
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
  file { "${docroot}/index.html":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('codenvy/nodes.html.epp', { 'nodes' => $nodes, 'server' => $server_facts['servername'] }),
  }

  # Debian's default site would also claim port 80.
  file { '/etc/nginx/sites-enabled/default':
    ensure => absent,
    notify => Service['nginx'],
  }
  file { '/etc/nginx/sites-enabled/codenvy.conf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('codenvy/nginx-site.conf.epp', { 'port' => $port, 'docroot' => $docroot }),
    notify  => Service['nginx'],
  }

  service { 'nginx':
    ensure     => running,
    provider   => 'base',
    start      => '/usr/sbin/nginx',
    stop       => '/usr/sbin/nginx -s quit',
    restart    => '/usr/sbin/nginx -s reload',
    status     => '/usr/bin/pgrep -x nginx',
    hasrestart => true,
    hasstatus  => true,
    require    => File["${docroot}/index.html"],
  }
}
