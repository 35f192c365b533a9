package keyservice_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   []string
		want keyservice.Scopes
		ok   bool
	}{
		{[]string{"read"}, keyservice.ScopeRead, true},
		{[]string{"write"}, keyservice.ScopeWrite, true},
		{[]string{"read", "write"}, keyservice.AllScopes, true},
		{[]string{"write", "read"}, keyservice.AllScopes, true},
		{nil, 0, false},
		{[]string{}, 0, false},
		{[]string{"read", "read"}, 0, false},
		{[]string{"admin"}, 0, false},
		{[]string{"READ"}, 0, false},
		{[]string{" read"}, 0, false},
		{[]string{"read write"}, 0, false},
		{[]string{""}, 0, false},
	}
	for _, tt := range tests {
		got, err := keyservice.ParseScopes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
			t.Errorf("ParseScopes(%q): code %s, want invalid_request", tt.in, keyservice.CodeOf(err))
		}
	}
	if got := keyservice.AllScopes.Names(); strings.Join(got, ",") != "read,write" {
		t.Errorf("Names = %v, want read before write", got)
	}
	if got := keyservice.AllScopes.String(); got != "read write" {
		t.Errorf("String = %q", got)
	}
	for _, v := range []string{"read write", "read", "write"} {
		if s, ok := keyservice.ParseScopeString(v); !ok || s.String() != v {
			t.Errorf("ParseScopeString(%q) = %v, %v", v, s, ok)
		}
	}
	for _, v := range []string{"", " ", "read  write", " read", "read ", "read read", "write read x"} {
		if s, ok := keyservice.ParseScopeString(v); ok {
			t.Errorf("ParseScopeString(%q) = %v, want refused", v, s)
		}
	}
}

func TestMethodScope(t *testing.T) {
	for m, want := range map[string]keyservice.Scopes{
		"GET": keyservice.ScopeRead, "HEAD": keyservice.ScopeRead, "OPTIONS": keyservice.ScopeRead,
		"POST": keyservice.ScopeWrite, "PUT": keyservice.ScopeWrite, "PATCH": keyservice.ScopeWrite, "DELETE": keyservice.ScopeWrite,
	} {
		if got, ok := keyservice.MethodScope(m); !ok || got != want {
			t.Errorf("MethodScope(%s) = %v, %v; want %v", m, got, ok, want)
		}
	}
	for _, m := range []string{"TRACE", "CONNECT", "get", "", "*"} {
		if got, ok := keyservice.MethodScope(m); ok {
			t.Errorf("MethodScope(%q) = %v, want none", m, got)
		}
	}
}

func TestParseAllowedIPs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string // canonical entries joined by " "; "!" = invalid_request
	}{
		{"none", nil, ""},
		{"empty", []string{}, ""},
		{"IPv4 address", []string{"203.0.113.7"}, "203.0.113.7/32"},
		{"IPv6 address", []string{"2001:DB8::1"}, "2001:db8::1/128"},
		{"host bits cleared", []string{"10.1.2.3/8"}, "10.0.0.0/8"},
		{"IPv6 host bits cleared", []string{"2001:db8:1:2::5/32"}, "2001:db8::/32"},
		{"order kept", []string{"198.51.100.0/24", "10.0.0.0/8", "::1"}, "198.51.100.0/24 10.0.0.0/8 ::1/128"},
		{"/0", []string{"0.0.0.0/0"}, "0.0.0.0/0"},
		{"IPv4-mapped stays IPv6", []string{"::ffff:203.0.113.7"}, "::ffff:203.0.113.7/128"},
		{"16 entries", strings.Fields(strings.Repeat("x ", 16)), "!"}, // replaced below
		{"duplicate", []string{"10.0.0.1", "10.0.0.1"}, "!"},
		{"duplicate after canonical form", []string{"10.1.2.3/8", "10.200.0.0/8"}, "!"},
		{"address and its /32", []string{"10.0.0.1", "10.0.0.1/32"}, "!"},
		{"bad address", []string{"10.0.0.256"}, "!"},
		{"leading zero", []string{"010.0.0.1"}, "!"},
		{"prefix too long", []string{"10.0.0.0/33"}, "!"},
		{"zone", []string{"fe80::1%eth0"}, "!"},
		{"empty entry", []string{""}, "!"},
		{"space", []string{" 10.0.0.1"}, "!"},
		{"host name", []string{"localhost"}, "!"},
		{"17 entries", nil, "!"},
	}
	var sixteen, seventeen []string
	for i := range 17 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String()
		if i < 16 {
			sixteen = append(sixteen, a)
		}
		seventeen = append(seventeen, a)
	}
	tests[9].in, tests[9].want = sixteen, ""
	tests[len(tests)-1].in = seventeen
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyservice.ParseAllowedIPs(tt.in)
			if tt.want == "!" {
				if keyservice.CodeOf(err) != keyservice.CodeInvalidRequest {
					t.Fatalf("ParseAllowedIPs(%q) = %v, %v; want invalid_request", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowedIPs(%q): %v", tt.in, err)
			}
			if tt.name == "16 entries" {
				if len(got) != 16 {
					t.Fatalf("%d entries", len(got))
				}
				return
			}
			if s := strings.Join(keyservice.FormatAllowedIPs(got), " "); s != tt.want {
				t.Errorf("ParseAllowedIPs(%q) = %q, want %q", tt.in, s, tt.want)
			}
		})
	}
}

func TestAddrAllowed(t *testing.T) {
	p := func(ss ...string) []netip.Prefix {
		out, err := keyservice.ParseAllowedIPs(ss)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		allowed []netip.Prefix
		addr    netip.Addr
		want    bool
	}{
		{"no list, any address", nil, a("198.51.100.1"), true},
		{"no list, no address", nil, netip.Addr{}, true},
		{"inside a block", p("203.0.113.0/24"), a("203.0.113.7"), true},
		{"outside", p("203.0.113.0/24"), a("203.0.114.7"), false},
		{"exact address", p("203.0.113.7"), a("203.0.113.7"), true},
		{"next address", p("203.0.113.7"), a("203.0.113.8"), false},
		{"no address with a list", p("0.0.0.0/0"), netip.Addr{}, false},
		{"IPv4-mapped IPv6 source, IPv4 block", p("203.0.113.0/24"), a("::ffff:203.0.113.7"), true},
		{"IPv4-mapped IPv6 source outside", p("203.0.113.0/24"), a("::ffff:203.0.114.7"), false},
		{"IPv4 source, IPv4-mapped block", p("::ffff:203.0.113.0/120"), a("203.0.113.7"), true},
		{"IPv6 inside", p("2001:db8::/32"), a("2001:db8:5::1"), true},
		{"IPv6 outside", p("2001:db8::/32"), a("2001:db9::1"), false},
		{"IPv6 list, IPv4 source", p("2001:db8::/32"), a("203.0.113.7"), false},
		{"second entry", p("10.0.0.0/8", "203.0.113.7"), a("203.0.113.7"), true},
		{"zone ignored", p("fe80::/10"), a("fe80::1%eth0"), true},
	}
	for _, tt := range tests {
		if got := keyservice.AddrAllowed(tt.allowed, tt.addr); got != tt.want {
			t.Errorf("%s: AddrAllowed(%v, %v) = %v, want %v", tt.name, tt.allowed, tt.addr, got, tt.want)
		}
	}
}
