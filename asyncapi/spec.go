// Package asyncapi embeds the protocol spec so the binary validates frames
// against, and serves, exactly the spec it was built from, with no checkout
// beside it.
package asyncapi

import _ "embed"

// YAML is asyncapi/livechat.yaml as built into the binary.
//
//go:embed livechat.yaml
var YAML []byte
