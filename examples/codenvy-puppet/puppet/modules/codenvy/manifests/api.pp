# Role api, the API node (workspaces, users): its role file.
# The settings come from Hiera (codenvy::api::..., data/common.yaml).
class codenvy::api (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'api':
    settings => { 'port' => $port, 'service' => $service },
  }
}
