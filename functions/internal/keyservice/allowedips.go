package keyservice

import (
	"net/netip"
	"strings"
)

// MaxAllowedIPs is the most entries allowedIps may hold (SPEC section 3).
const MaxAllowedIPs = 16

// ParseAllowedIPs reads allowedIps entries: IPv4 or IPv6 addresses or CIDR
// blocks (net/netip syntax: no zones, no leading zeros in IPv4), at most
// MaxAllowedIPs. Each is made canonical: an address alone becomes a /32 or
// /128 block and host bits are cleared (10.1.2.3/8 becomes 10.0.0.0/8). An
// IPv4-mapped IPv6 entry stays IPv6. Two entries that are equal once
// canonical, or any bad entry, are invalid_request. The result keeps the
// given order; an empty list gives nil (any address).
func ParseAllowedIPs(entries []string) ([]netip.Prefix, error) {
	if len(entries) > MaxAllowedIPs {
		return nil, Errorf(CodeInvalidRequest, "allowedIps may hold at most %d entries.", MaxAllowedIPs)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, ok := parsePrefix(e)
		if !ok {
			return nil, Errorf(CodeInvalidRequest, "allowedIps entries must be IPv4 or IPv6 addresses or CIDR blocks, such as 203.0.113.0/24.")
		}
		for _, q := range out {
			if q == p {
				return nil, Errorf(CodeInvalidRequest, "allowedIps holds %s twice (after canonical CIDR form).", p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if len(s) > 64 {
		return netip.Prefix{}, false
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// FormatAllowedIPs returns the canonical CIDR text of each prefix.
func FormatAllowedIPs(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// AddrAllowed reports whether a request from addr may use a key with the
// allowed prefixes: any address when the list is empty; otherwise addr must
// be valid and inside one of them. An IPv4-mapped IPv6 address
// (::ffff:203.0.113.7) is the IPv4 address it maps, and matches IPv4 blocks
// as well as IPv6 blocks that hold it.
func AddrAllowed(allowed []netip.Prefix, addr netip.Addr) bool {
	if len(allowed) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("")
	v4, v6 := addr.Unmap(), addr
	if v4.Is4() {
		v6 = netip.AddrFrom16(v4.As16())
	}
	for _, p := range allowed {
		if p.Contains(v4) || p.Contains(v6) {
			return true
		}
	}
	return false
}
