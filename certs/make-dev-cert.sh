#!/usr/bin/env bash
# Makes a development CA and a server certificate for localhost, 127.0.0.1 and ::1 with the
# openssl CLI. Usage: certs/make-dev-cert.sh [DIR] (default certs/dev). Keeps what is already
# there unless it expires within a week; DAYS (default 90) sets the server certificate's life.
# Clients trust DIR/ca.pem; Squall serves DIR/server.pem with DIR/server.key. Never commit DIR.
set -euo pipefail
dir=${1:-"$(dirname "$0")/dev"}
days=${DAYS:-90}
mkdir -p "$dir"
cd "$dir"
if [[ -f server.pem && -f server.key && -f ca.pem ]] && openssl x509 -in server.pem -noout -checkend 604800 >/dev/null; then
  exit 0
fi
umask 077
if [[ ! -f ca.key || ! -f ca.pem ]] || ! openssl x509 -in ca.pem -noout -checkend 604800 >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Squall development CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days "$days" \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n') \
  -out server.pem 2>/dev/null
rm -f server.csr
chmod 644 ca.pem server.pem
echo "development certificate: $PWD/server.pem (trust $PWD/ca.pem)"
