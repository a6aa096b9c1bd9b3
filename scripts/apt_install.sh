#!/bin/sh
# Install Debian packages without starting the services they ship (Prometheus, Redis):
# servegate runs its own instances as its own processes and must leave nothing running.
# A policy-rc.d that refuses every start is put in place only for the install, and only if
# the machine has none (a machine's own policy is left alone).
set -eu
created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created=1
fi
trap 'if [ -n "$created" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
