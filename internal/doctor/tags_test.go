package doctor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseTags(t *testing.T) {
	tl, err := parseTags(" v = DKIM1 ;k=rsa;\r\n\tp=AB CD ; ")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tl.names, ",") != "v,k,p" || tl.vals["p"] != "AB CD" {
		t.Fatalf("parsed %+v", tl)
	}
	for _, s := range []string{"v=1; v=2", "novalue", "=x", "1a=b", "a-b=c"} {
		if _, err := parseTags(s); err == nil {
			t.Errorf("parseTags(%q) accepted", s)
		}
	}
}

func TestParseDKIMRecord(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := parseDKIMRecord("v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub))
	if err != nil || !samePublicKey(pub, k.pub) {
		t.Fatalf("ed25519 record: %v", err)
	}
	rk := testDKIMKey(t)
	pkcs1 := base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&rk.PublicKey))
	k, err = parseDKIMRecord("p=" + pkcs1) // k= defaults to rsa; bare PKCS#1 accepted
	if err != nil || !samePublicKey(&rk.PublicKey, k.pub) {
		t.Fatalf("PKCS#1 record: %v", err)
	}
	for _, s := range []string{
		"k=rsa; v=DKIM1; p=" + pkcs1, // v not first
		"v=DKIM2; p=" + pkcs1,
		"v=DKIM1; k=rsa",
		"v=DKIM1; k=dsa; p=" + pkcs1,
		"v=DKIM1; k=ed25519; p=" + pkcs1,
		"v=DKIM1; p=!!!",
	} {
		if _, err := parseDKIMRecord(s); err == nil {
			t.Errorf("parseDKIMRecord(%q) accepted", s)
		}
	}
	if k, err := parseDKIMRecord("v=DKIM1; p="); err != nil || !k.revoked {
		t.Errorf("revoked record: %+v %v", k, err)
	}
}

func TestParseDMARC(t *testing.T) {
	d, err := parseDMARC("v=DMARC1; p=Reject; sp=none; rua=mailto:a@b.test")
	if err != nil || d.policy != "reject" || d.subPolicy != "none" {
		t.Fatalf("%+v %v", d, err)
	}
	for _, s := range []string{"p=none; v=DMARC1", "v=DMARC1", "v=DMARC1; p=", "v=DMARC1; p=none; sp=all", "v=DMARC2; p=none"} {
		if _, err := parseDMARC(s); err == nil {
			t.Errorf("parseDMARC(%q) accepted", s)
		}
	}
	if !isDMARC("v = DMARC1; p=none") || isDMARC("v=spf1 -all") {
		t.Error("isDMARC")
	}
}

func FuzzParseDKIMRecord(f *testing.F) {
	f.Add("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC")
	f.Add("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Add("v=DKIM1; p=")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseDKIMRecord(s)
		if err == nil && !k.revoked && k.pub == nil {
			t.Fatalf("%q: accepted without a key", s)
		}
	})
}

func FuzzParseDMARC(f *testing.F) {
	f.Add("v=DMARC1; p=none; rua=mailto:x@y")
	f.Add("v=DMARC1;p=reject;sp=quarantine;adkim=s")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDMARC(s)
		if err == nil && d.policy != "none" && d.policy != "quarantine" && d.policy != "reject" {
			t.Fatalf("%q: policy %q accepted", s, d.policy)
		}
	})
}
