package keyservice_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// realLabels are labels administrators write: long compound words of
// several languages (ASCII runs of up to 61 letters), product codes, ids
// with separators, host names, hashes, and every script.
var realLabels = []string{
	"Production Integration", "Office Sync Tool", "Accounting Export",
	// Compound words, written as words are.
	"Kraftfahrzeughaftpflichtversicherung", "Donaudampfschifffahrtsgesellschaftskapitän",
	"Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
	"Bezirksschornsteinfegermeister Export", "Arbeitsunfähigkeitsbescheinigungen",
	"Datenschutzgrundverordnungsbeauftragter", "Finanzbuchhaltungsschnittstelle Produktion",
	"Straßenverkehrszulassungsordnung", "Grundstücksverkehrsgenehmigungszuständigkeitsübertragungsverordnung"[:60],
	"lentokonesuihkuturbiinimoottoriapumekaanikkoaliupseerioppilas",
	"Kolmivaihekilowattituntimittari", "Epäjärjestelmällistyttämättömyydellänsäkäänköhän",
	"kindercarnavalsoptochtvoorbereidingswerkzaamhedenplan", "Hottentottententententoonstelling",
	"Aansprakelijkheidsverzekering", "Boekhoudingssynchronisatiedienst",
	"Realisationsvinstbeskattningen", "Sannsynlighetsberegningsmodeller",
	"Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
	"Pneumonoultramicroscopicsilicovolcanoconiosis", "Supercalifragilisticexpialidocious",
	"Antidisestablishmentarianism", "Incomprehensibilities", "precipitevolissimevolmente",
	"Nebeprisikiškiakopūsteliaudamas", "Megszentségteleníthetetlenségeskedéseitekért",
	"Vaðlaheiðarvegavinnuverkfærageymsluskúr", "KRAFTFAHRZEUGHAFTPFLICHTVERSICHERUNG",
	"Przeciwrzeczywistościowymi", "Nejneobhospodařovávatelnějšími",
	// Product codes, order numbers, ids with separators.
	"SKU-2024-ABCD-1234-EFGH", "INV20240115000123456789", "ORD-2024-11-30-000000012345",
	"123e4567-e89b-12d3-a456-426614174000", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
	"arn:aws:lambda:eu-west-1:123456789012:function:my-func", "i-0abcd1234efab5678",
	"sg-0123456789abcdef0", "vpc-0a1b2c3d4e5f67890", "AKIAIOSFODNN7EXAMPLE",
	"ERP connector v2.3.1 (build 20241130.4)", "Order 4711-0815-2024/11", "PO#2024-000123-DE",
	"deploy 3f2a9c0e4b1d4e8f9a7b6c5d4e3f2a1b0c9d8e7f", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"[:64],
	"MAC 00:1A:2B:3C:4D:5E", "IBAN DE89 3704 0044 0532 0130 00",
	// Host names and addresses.
	"prod.api.eu-west-1.kudurrustone.example.com", "ip-10-0-12-34.eu-west-1.compute.internal",
	"ec2-203-0-113-25.eu-west-1.compute.amazonaws.com", "integration-worker-7d9f8b6c5d-x2k4p",
	"build-agent-linux-x64-01", "2001:db8:85a3::8a2e:370:7334", "sftp://files.example.org:2222/inbound",
	"my_service_name_production_eu_west", "ACCOUNTING_EXPORT_PRODUCTION_SERVER", "kst_production_sync",
	"Salesforce To Hubspot Contact Sync", "Office-Sync-Tool-Windows11-Laptop",
	// Scripts and emoji.
	"Dev laptop 👩\u200d💻", "همگام\u200cسازی دفتر", "日本語のラベル", "Интеграция с бухгалтерией",
	"संपर्क सिंक्रनाइज़ेशन", "ระบบบัญชีอัตโนมัติ", "ייצוא הנהלת חשבונות", "Λογιστική εξαγωγή",
	"출판 관리 시스템 연동", "Export für Büro ✓", "Синхронизацияконтактовпредприятия",
}

func TestLabelCorpusAccepted(t *testing.T) {
	for _, l := range realLabels {
		if _, err := keyservice.NormalizeLabel(l); err != nil {
			t.Errorf("NormalizeLabel(%q): %v", l, err)
		}
	}
}

// TestLabelKeyMaterialRefused: every 24-character window of thousands of
// keys, alone or inside text, every key whole in any letter case with or
// without its prefix, and a key minus its checksum, is refused.
func TestLabelKeyMaterialRefused(t *testing.T) {
	// A fixed seed keeps the run reproducible; the rule's miss rate per
	// window is below 1e-7 (see KeyMaterial), so any seed passes.
	rng := rand.NewChaCha8([32]byte{'k', 'u', 'd', 'u', 'r', 'r', 'u'})
	n := 4000
	if testing.Short() {
		n = 500
	}
	refused := 0
	_, err := keyservice.NormalizeLabel("kst_" + strings.Repeat("aB3", 8))
	refusal := err.(*keyservice.Error).Message
	check := func(label string) {
		t.Helper()
		_, err := keyservice.NormalizeLabel(label)
		var e *keyservice.Error
		if !errors.As(err, &e) || e.Code != keyservice.CodeInvalidLabel || !strings.Contains(e.Message, "API key") {
			t.Fatalf("label with key material accepted or refused for another rule: %v", err)
		}
		if e.Message != refusal {
			t.Fatalf("message %q differs from the fixed refusal", e.Message)
		}
		refused++
	}
	for range n {
		key, err := apikey.Generate(rng)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+24 <= len(key); i++ {
			w := key[i : i+24]
			check(w)
			check("my key " + w + " here")
		}
		bare := strings.TrimPrefix(key, apikey.Prefix)
		for _, whole := range []string{key, bare, strings.ToLower(key), strings.ToUpper(key), strings.ToLower(bare), strings.ToUpper(bare)} {
			check(whole)
		}
		check("my key " + key[:len(key)-6])  // minus its checksum, under the 64 cap
		check("ｋｓｔ＿" + fullWidth(key[4:30])) // full-width letters
	}
	t.Logf("%d labels with key material refused", refused)
}

func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r - '!' + '！')
	}
	return b.String()
}

// TestLabelRefusalsNameTheRule: each rule has its own message.
func TestLabelRefusalsNameTheRule(t *testing.T) {
	for _, c := range []struct{ label, want string }{
		{"", "must not be empty"},
		{strings.Repeat("a", 65), "at most 64"},
		{"a\tb", "control characters"},
		{"a\u200bb", "control characters"},
		{"a\u202eb", "bidirectional"},
		{"a\u2067b", "bidirectional"},
		{"\u200d\u200c", "visible character"},
		{"kst_" + strings.Repeat("aB3", 7), "API key"},
		{"\xff", "UTF-8"},
	} {
		_, err := keyservice.NormalizeLabel(c.label)
		var e *keyservice.Error
		if !errors.As(err, &e) || e.Code != keyservice.CodeInvalidLabel || !strings.Contains(e.Message, c.want) {
			t.Errorf("NormalizeLabel(%q) = %v, want invalid_label saying %q", c.label, err, c.want)
		}
	}
}
