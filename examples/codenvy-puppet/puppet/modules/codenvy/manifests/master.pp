# Role master, the Puppet server itself (when an agent runs on it): its role file only.
# The settings come from Hiera (codenvy::master::..., data/common.yaml).
class codenvy::master (
  Integer $port,
) {
  codenvy::role_conf { 'master':
    settings => { 'port' => $port },
  }
}
