# Role datasource, the datasource node: its role file.
# The settings come from Hiera (codenvy::datasource::..., data/common.yaml).
class codenvy::datasource (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'datasource':
    settings => { 'port' => $port, 'service' => $service },
  }
}
