package clientip_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"livechat/internal/clientip"
)

// X-Forwarded-For is believed from trusted proxies only, and only up to the
// first address that is not one of them.
func TestClientIP(t *testing.T) {
	res := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"no proxy", "203.0.113.7:5000", "", "203.0.113.7"},
		{"an untrusted peer's header is ignored", "203.0.113.7:5000", "1.2.3.4", "203.0.113.7"},
		{"one trusted proxy", "10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},
		{"two trusted proxies", "10.1.2.3:5000", "198.51.100.9, 10.9.9.9", "198.51.100.9"},
		{"a client's forged entry stays left of the real one", "10.1.2.3:5000", "6.6.6.6, 198.51.100.9", "198.51.100.9"},
		{"all trusted: the peer", "10.1.2.3:5000", "10.4.4.4", "10.1.2.3"},
		{"garbage stops the chain", "10.1.2.3:5000", "198.51.100.9, nonsense", "10.1.2.3"},
		{"IPv6 proxy", "[::1]:5000", "2001:db8::5", "2001:db8::5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := res.IP(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	var none *clientip.Resolver
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.IP(r); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %s", got)
	}
}
