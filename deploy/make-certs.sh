#!/usr/bin/env bash
# Makes a development CA and one certificate per node for DistRnn's mutual TLS (--tls-cert / --tls-ca).
#
#   deploy/make-certs.sh DIR [NODE[:ROLE] ...]  (default nodes: coordinator worker-1 worker-2)
#
# ROLE is coordinator or worker, written as the certificate's OU (distrnn checks it: workers compute only for a
# coordinator certificate, and a coordinator refuses to start with another); by default a NODE whose name starts
# with "coordinator" gets the coordinator role, every other one the worker role.
# Writes, into DIR (created if needed, files made private with umask 077):
#   ca.pem          the CA certificate: give it to every node as --tls-ca DIR/ca.pem
#   ca.key          the CA's private key: keep it off the nodes (whoever holds it can mint members)
#   NODE.pfx        NODE's certificate with its key (PKCS#12): --tls-cert DIR/NODE.pfx
#   NODE.pem        NODE's certificate alone (for inspection: openssl x509 -in NODE.pem -noout -text)
#
# The PFX password is taken from DISTRNN_TLS_PASSWORD (the variable distrnn reads); when it is unset a random
# one is made and written to DIR/password (export DISTRNN_TLS_PASSWORD="$(cat DIR/password)" on every node).
# Node certificates are good for both ends of a connection (serverAuth + clientAuth); names and IP addresses in
# them are informative only — distrnn checks that a peer chains to the CA, not its host name.
# Environment: DAYS (validity, default 365), NODE_IPS (extra IP SANs, comma-separated, e.g. "10.0.0.5,10.0.0.6").
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is not installed (apt-get install openssl)" >&2; exit 1; }

dir=$1; shift
nodes=("$@")
[[ ${#nodes[@]} -eq 0 ]] && nodes=(coordinator worker-1 worker-2)
days=${DAYS:-365}
umask 077
mkdir -p "$dir"

if [[ -n "${DISTRNN_TLS_PASSWORD:-}" ]]; then
  password=$DISTRNN_TLS_PASSWORD
else
  password=$(openssl rand -hex 16)
  printf '%s\n' "$password" > "$dir/password"
  echo "DISTRNN_TLS_PASSWORD was not set: wrote a random PFX password to $dir/password" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -f "$dir/ca.key" && -f "$dir/ca.pem" ]]; then
  echo "using the existing CA in $dir" >&2
else
  openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days "$((days + 30))" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=DistRnn development CA $(date -u +%Y%m%d%H%M%S)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  chmod 644 "$dir/ca.pem"
fi

sans="IP:127.0.0.1,DNS:localhost"
if [[ -n "${NODE_IPS:-}" ]]; then
  IFS=',' read -r -a ips <<< "$NODE_IPS"
  for ip in "${ips[@]}"; do sans+=",IP:$ip"; done
fi

for spec in "${nodes[@]}"; do
  node=${spec%%:*}
  if [[ "$spec" == *:* ]]; then role=${spec#*:}; elif [[ "$node" == coordinator* ]]; then role=coordinator; else role=worker; fi
  [[ "$node" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-certs.sh: node name '$node': use letters, digits, '.', '_' or '-'" >&2; exit 2; }
  [[ "$role" == coordinator || "$role" == worker ]] || { echo "make-certs.sh: $spec: the role must be coordinator or worker" >&2; exit 2; }
  cat > "$work/$node.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$node,$sans
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  openssl req -new -newkey rsa:2048 -nodes -keyout "$work/$node.key" -out "$work/$node.csr" -subj "/CN=$node/OU=$role" 2>/dev/null
  openssl x509 -req -in "$work/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -CAserial "$work/ca.srl" \
    -days "$days" -sha256 -extfile "$work/$node.ext" -out "$dir/$node.pem" 2>/dev/null
  DISTRNN_MAKE_CERTS_PASSWORD=$password openssl pkcs12 -export -inkey "$work/$node.key" -in "$dir/$node.pem" \
    -certfile "$dir/ca.pem" -name "$node" -out "$dir/$node.pfx" -passout env:DISTRNN_MAKE_CERTS_PASSWORD
  echo "$dir/$node.pfx ($role)"
done
echo "CA: $dir/ca.pem   (nodes: --tls-cert DIR/NODE.pfx --tls-ca $dir/ca.pem, with DISTRNN_TLS_PASSWORD set)" >&2
