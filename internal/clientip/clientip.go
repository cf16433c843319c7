// Package clientip decides a request's client address: the TCP peer's,
// or, when the peer is a trusted proxy (LIVECHAT_TRUSTED_PROXIES), the
// nearest address in X-Forwarded-For that is not one. Anyone can send the
// header, so it is believed only from the proxies named: the login lockout,
// the per-IP socket budget and the audit's source must not be the caller's
// choice.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver tells client addresses. The zero value (and nil) trusts no
// proxy: the peer's address.
type Resolver struct {
	trusted []netip.Prefix
}

// New trusts the proxies in these prefixes.
func New(trusted []netip.Prefix) *Resolver { return &Resolver{trusted: trusted} }

// IP is the client's address of r.
func (res *Resolver) IP(r *http.Request) string {
	peer := peerIP(r)
	if res == nil || len(res.trusted) == 0 || !res.trusts(peer) {
		return peer
	}
	// The right-most entries were added by the proxies in front of us;
	// the first untrusted one from the right is the client.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			return peer // a malformed chain is not believed past this point
		}
		if !res.contains(a) {
			return a.Unmap().String()
		}
	}
	return peer
}

func (res *Resolver) trusts(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && res.contains(a)
}

func (res *Resolver) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerIP is the host of the TCP peer's address.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
