#!/bin/sh
# Makes a throw-away PKI for TLS tests in directory $1 (created if missing):
#   ca.pem/ca.key            the test CA
#   server.pem/server.key    SAN DNS:localhost, IP:127.0.0.1 (serverAuth)
#   client.pem/client.key    CN=portal-client, SAN DNS:portal.example, URI:spiffe://portal/ctl
#   listed.pem/listed.key    CN=listed-client, SAN DNS:listed.example (a second client of the CA)
#   other-ca.pem, other-client.pem/.key   a second CA and a client it signed (untrusted)
# P-256 keys, valid two days. Needs only the openssl command.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
make_ca() {
	gen_key "$1.key"
	openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
make_leaf() { # name ca cn ext
	gen_key "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3" 2>/dev/null
	printf '%s\n' "$4" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
		-days 2 -extfile "$1.ext" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
make_ca ca "ocserv-agent test CA"
make_ca other-ca "some other CA"
make_leaf server ca localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
make_leaf client ca portal-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:portal.example,URI:spiffe://portal/ctl"
make_leaf listed ca listed-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:listed.example"
make_leaf other-client other-ca portal-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:portal.example"
