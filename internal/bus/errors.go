package bus

import "errors"

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("bus: closed")
