# /etc/codenvy/role.conf: what this node is, as the master classified it (role, certname, the
# Hiera settings of the role), as key=value lines a test or a person can grep.
define codenvy::role_conf (
  Hash[String, Scalar] $settings = {},
  String $role = $title,
) {
  include codenvy
  file { '/etc/codenvy/role.conf':
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('codenvy/role.conf.epp', {
      'role'     => $role,
      'hostname' => $trusted['certname'],
      'settings' => {
        'release'      => $codenvy::release,
        'api_endpoint' => $codenvy::api_endpoint,
      } + $settings,
    }),
  }
}
