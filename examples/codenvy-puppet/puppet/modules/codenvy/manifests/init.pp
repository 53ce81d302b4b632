# What every codenvy node shares: the settings directory and the cluster-wide values from Hiera
# (codenvy::release, codenvy::api_endpoint). Included by each role class.
class codenvy (
  String $release,
  String $api_endpoint,
) {
  file { '/etc/codenvy':
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
}
