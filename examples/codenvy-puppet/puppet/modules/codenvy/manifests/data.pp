# Role data, the data node (MongoDB and LDAP in 2015): its role file.
# The settings come from Hiera (codenvy::data::..., data/common.yaml).
class codenvy::data (
  Integer $port,
  String $service,
) {
  codenvy::role_conf { 'data':
    settings => { 'port' => $port, 'service' => $service },
  }
}
