#!/usr/bin/env bash
# Installs callvault as a service on Debian 12 (as root), from a build tree:
#   deploy/install.sh [--bin build/app/callvault] [--enable]
# - the binary as /usr/bin/callvault;
# - the system account `callvault` (sysusers.d), /var/lib/callvault (0750) and
#   its keys/ (0700) (tmpfiles.d), /etc/callvault (0750 root:callvault);
# - /etc/callvault/callvault.toml from deploy/callvault.toml unless one exists
#   (0640 root:callvault), with [database] embedded_account = "callvault" so
#   that the embedded PostgreSQL always runs as the service's account, also
#   when an administrator runs `callvault db ...` as root;
# - the units callvault.service (recorder), callvault-db.service (embedded
#   PostgreSQL), callvault-retention.service + .timer (every 5 minutes) in
#   /etc/systemd/system.
# With --enable: starts the database and the retention timer; the recorder is
# enabled but started only once `callvault doctor` is happy (see below).
# DESTDIR=/some/root installs the files there and skips what needs the running
# system (accounts, ownership, systemctl): for packaging and tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../build/app/callvault"
enable=0
while (($#)); do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --enable) enable=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
root="${DESTDIR:-}"
live=1
[[ -n "$root" ]] && live=0
if ((live)) && [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root (or with DESTDIR=... to stage the files)" >&2
  exit 1
fi
if [[ ! -x "$bin" ]]; then
  echo "install.sh: no callvault binary at $bin: build it (cmake --build build --target callvault) or pass --bin" >&2
  exit 1
fi
owner() { ((live)) && chown "$@" || true; }

install -D -m 0755 "$bin" "$root/usr/bin/callvault"
install -D -m 0644 "$here/systemd/callvault.sysusers" "$root/usr/lib/sysusers.d/callvault.conf"
install -D -m 0644 "$here/systemd/callvault.tmpfiles" "$root/usr/lib/tmpfiles.d/callvault.conf"
if ((live)); then
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/callvault.conf
  elif ! getent passwd callvault >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/callvault --no-create-home --shell /usr/sbin/nologin \
      --comment "callvault call recorder" callvault
  fi
fi

# Directories: as tmpfiles.d says (also applied at every boot by systemd).
install -d -m 0750 "$root/etc/callvault"
owner root:callvault "$root/etc/callvault"
install -d -m 0750 "$root/var/lib/callvault"
owner callvault:callvault "$root/var/lib/callvault"
install -d -m 0700 "$root/var/lib/callvault/keys"
owner callvault:callvault "$root/var/lib/callvault/keys"

conf="$root/etc/callvault/callvault.toml"
if [[ -e "$conf" ]]; then
  echo "install.sh: keeping the existing $conf"
else
  sed -e 's/^embedded_account = "postgres".*/embedded_account = "callvault"   # the service account runs the embedded PostgreSQL/' \
    "$here/callvault.toml" >"$conf.new"
  chmod 0640 "$conf.new"
  owner root:callvault "$conf.new"
  mv "$conf.new" "$conf"
fi

for unit in callvault.service callvault-db.service callvault-retention.service callvault-retention.timer; do
  install -D -m 0644 "$here/systemd/$unit" "$root/etc/systemd/system/$unit"
done

if ((live)) && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  if ((enable)); then
    systemctl enable --now callvault-db.service callvault-retention.timer
    systemctl enable callvault.service
  fi
fi
cat <<EOF
callvault installed. Next:
  1. edit /etc/callvault/callvault.toml: [capture] interface (the mirror port), [office] numbers, [retention]
  2. check the machine as the service will run:
       systemd-run --pipe --wait -p User=callvault -p AmbientCapabilities='CAP_NET_RAW CAP_NET_ADMIN' \\
         /usr/bin/callvault --config /etc/callvault/callvault.toml doctor --interface IF
  3. systemctl enable --now callvault-db.service callvault-retention.timer callvault.service
With an external PostgreSQL ([database] url): systemctl mask callvault-db.service.
EOF
