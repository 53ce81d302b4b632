# Role analytics, the analytics node: its role file.
# The settings come from Hiera (codenvy::analytics::..., data/common.yaml).
class codenvy::analytics (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'analytics':
    settings => { 'port' => $port, 'service' => $service },
  }
}
