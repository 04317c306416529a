#!/usr/bin/env bash
# What `keyfleet create-keys` does, written as the openssl CLI script an operator would use: the
# benchmark's baseline for create-keys. Same files: ca.key, ca.crt, agent.key, agent.crt (a SAN for
# every host), keystore.p12 (agent key, certificate and CA), truststore.p12 (the CA), storepass,
# and a manifest of SHA-256 digests. Extensions from certs/ca.cnf and certs/agent.cnf (keyfleet's
# own profiles) when the tree has them, else the same profiles written out below.
#
#   openssl-create-keys.sh OUT_DIR ec-p256|rsa-3072 HOST...
set -euo pipefail

[[ $# -ge 3 ]] || { echo "usage: $0 OUT_DIR ec-p256|rsa-3072 HOST..." >&2; exit 2; }
out=$1 key_type=$2
shift 2
case $key_type in
  ec-p256) keyopts=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) agent_ext=agent_ext ;;
  rsa-3072) keyopts=(-algorithm RSA -pkeyopt rsa_keygen_bits:3072) agent_ext=agent_rsa_ext ;;
  *) echo "$0: unknown key type '$key_type' (ec-p256 or rsa-3072)" >&2; exit 2 ;;
esac

certs=$(cd "$(dirname "$0")/.." && pwd)/certs
umask 077
mkdir "$out"
cd "$out"

if [[ -f $certs/ca.cnf && -f $certs/agent.cnf ]]; then
  ca_cnf=$certs/ca.cnf agent_cnf=$certs/agent.cnf
else
  ca_cnf=ca.cnf agent_cnf=agent.cnf
  cat >ca.cnf <<'CNF'
[ req ]
prompt             = no
distinguished_name = ca_dn
x509_extensions    = ca_ext
string_mask        = utf8only
[ ca_dn ]
CN = keyfleet CA
[ ca_ext ]
basicConstraints     = critical, CA:TRUE, pathlen:0
keyUsage             = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  cat >agent.cnf <<'CNF'
[ req ]
prompt             = no
distinguished_name = agent_dn
string_mask        = utf8only
[ agent_dn ]
CN = keyfleet agent
[ agent_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ agent_rsa_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CNF
fi

san=""
for host in "$@"; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san+=",IP:$host"; else san+=",DNS:$host"; fi
done

openssl genpkey "${keyopts[@]}" -out ca.key
openssl req -x509 -new -config "$ca_cnf" -key ca.key -days 3650 -subj "/CN=keyfleet CA" -out ca.crt
openssl genpkey "${keyopts[@]}" -out agent.key
openssl req -new -config "$agent_cnf" -key agent.key -subj "/CN=$1" \
  -addext "subjectAltName=${san#,}" -out agent.csr
openssl x509 -req -in agent.csr -CA ca.crt -CAkey ca.key -days 825 -copy_extensions copyall \
  -extfile "$agent_cnf" -extensions "$agent_ext" -out agent.crt 2>/dev/null
rm agent.csr
openssl rand -base64 48 >storepass
openssl pkcs12 -export -inkey agent.key -in agent.crt -certfile ca.crt -name agent \
  -passout file:storepass -out keystore.p12
openssl pkcs12 -export -nokeys -in ca.crt -name ca -passout file:storepass -out truststore.p12
chmod 0644 ca.crt agent.crt truststore.p12
sha256sum ca.crt ca.key agent.crt agent.key keystore.p12 truststore.p12 storepass >manifest.sha256
