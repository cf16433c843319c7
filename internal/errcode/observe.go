package errcode

import "sync/atomic"

// observer, when set, is told the code of every error answered.
var observer atomic.Pointer[func(transport, code string)]

// SetObserver has f told the code of every error answered, on the socket
// ("ws") or in REST ("http"): the metrics' errors by code.
func SetObserver(f func(transport, code string)) { observer.Store(&f) }

// Observe tells the observer, if any, of an error answered.
func Observe(transport, code string) {
	if f := observer.Load(); f != nil {
		(*f)(transport, code)
	}
}
