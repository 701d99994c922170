#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15+ server for the test suite and prints its URL on stdout:
#   eval "$(bash scripts/ci/postgres.sh start DIR)"   → exports VCM_TEST_POSTGRES_URL (VCM_TEST_POSTGRES_PORT picks the port)
#   bash scripts/ci/postgres.sh stop DIR
# Debian's postgresql-15 puts its binaries under /usr/lib/postgresql/VERSION/bin; initdb refuses to run
# as root, so the server runs as the `postgres` user, in DIR, on a loopback port, with trust
# authentication (loopback only: a test server, never a real one).
set -euo pipefail
action="${1:?usage: postgres.sh start|stop DIR}"
dir="${2:?usage: postgres.sh start|stop DIR}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then bindir="$(pg_config --bindir)"; fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "echo 'no PostgreSQL server binaries found (apt-get install -y postgresql); the PostgreSQL tests will be skipped' >&2"
  exit 0
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# A free loopback port unless one is given, so a CI run beside another server never collides. It is
# drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range), where no client's outgoing
# socket can take it between this check and the server's start (a port from bind(0) could be).
free_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
low = min(low, 32768)
for _ in range(200):
    port = random.randrange(max(1024, low - 12000), low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free loopback port below the ephemeral range")
PY
}
port="${VCM_TEST_POSTGRES_PORT:-$(free_port)}"
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    fi
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >&2
    as_postgres "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
      -c "SELECT 1 FROM pg_database WHERE datname = 'vcm_test'" | grep -q 1 \
      || as_postgres "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres vcm_test
    echo "export VCM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/vcm_test"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    ;;
  *) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
