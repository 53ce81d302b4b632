# Role builder, a builder node (builder1, builder2, ...): its role file.
# The settings come from Hiera (codenvy::builder::..., data/common.yaml).
class codenvy::builder (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'builder':
    settings => { 'port' => $port, 'service' => $service },
  }
}
