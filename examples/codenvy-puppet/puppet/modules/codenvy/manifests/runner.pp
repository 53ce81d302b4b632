# Role runner, a runner node (runner1, runner2, ...): its role file.
# The settings come from Hiera (codenvy::runner::..., data/common.yaml).
class codenvy::runner (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'runner':
    settings => { 'port' => $port, 'service' => $service },
  }
}
