# Classification of a codenvy-puppet cluster: a node's role is its short hostname without the
# trailing number (api -> api, builder1 -> builder, runner2 -> runner), read from $trusted: the
# name in the certificate the master signed, which an agent cannot change with a fact.
# Every role is one class of the codenvy module; an unknown name fails the run, it never gets an
# empty catalog.

node default {
  $role = $trusted['hostname'].regsubst(/\d+$/, '')
  $class = "codenvy::${role}"
  if defined($class) {
    include $class
  } else {
    fail("codenvy: no role for \"${trusted['certname']}\" (hostname \"${trusted['hostname']}\" names no class ${class})")
  }
}
