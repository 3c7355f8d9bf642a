package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftdb/weft/sdk/weft"
)

// testCA is a certificate authority made by a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weft test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 (for servers and clients) with
// serial to certFile and its key to keyFile.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then the certificate: the server reloads when the
	// certificate's file changes.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// weft serve over TLS: the Go SDK (Connect and gRPC over HTTP/2) and curl
// work with the test's CA; plain HTTP does not; a renewed certificate is
// served without a restart.
func TestServeTLS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	ca.issue(t, 2, certFile, keyFile)
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	addr := strings.Replace(p.addr, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	tlsCfg := &tls.Config{RootCAs: roots}

	for _, proto := range []struct {
		name string
		opt  []weft.Option
	}{{"connect", nil}, {"grpc", []weft.Option{weft.WithGRPC()}}} {
		c, err := weft.New(addr, append(proto.opt, weft.WithTLS(tlsCfg))...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		name := "tls-" + proto.name
		if _, err := c.CreateNamespace(ctx, name, 2, weft.L2); err != nil {
			t.Fatalf("%s over TLS: %v", proto.name, err)
		}
		if _, err := c.Namespace(name).Upsert(ctx, weft.Doc("a", []float32{1, 2}, nil)); err != nil {
			t.Fatal(err)
		}
		res, err := c.Namespace(name).Query(ctx, []float32{1, 2}, 1)
		if err != nil || len(res.GetResults()) != 1 || res.GetResults()[0].GetId() != "a" {
			t.Fatalf("%s query over TLS: %+v, %v", proto.name, res, err)
		}
	}
	if resp, err := http.Get(p.addr + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered on the TLS port")
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.CommandContext(ctx, curl, "-sS", "--cacert", caFile, "-H", "Content-Type: application/json", "-d", "{}",
			addr+"/weft.v1.NamespaceService/ListNamespaces").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tls-connect") {
			t.Fatalf("curl over TLS: %v\n%s", err, out)
		}
	} else {
		t.Log("curl is not installed: checked the Go SDK only")
	}

	// Renewal: a new certificate in the same files is served to new
	// connections within the reload check (1 s), no restart.
	serial := func() int64 {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(addr, "https://"), tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 2 {
		t.Fatalf("serving serial %d, want 2", s)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	ca.issue(t, 3, certFile, keyFile)
	deadline := time.Now().Add(5 * time.Second)
	for serial() != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served 5 s after it was written")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --tls-client-ca: a client without a certificate the CA signed is turned
// away; one with it is served.
func TestServeMutualTLS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	clientCert, clientKey := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	ca.issue(t, 2, certFile, keyFile)
	ca.issue(t, 3, clientCert, clientKey)
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", caFile)
	addr := strings.Replace(p.addr, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	anon, err := weft.New(addr, weft.WithTLS(&tls.Config{RootCAs: roots}))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.CreateNamespace(ctx, "m", 2, weft.L2); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := weft.New(addr, weft.WithTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateNamespace(ctx, "m", 2, weft.L2); err != nil {
		t.Fatalf("a client with the CA's certificate: %v", err)
	}
}
