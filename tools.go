//go:build tools

// Package tools pins the code generators and test runners this module runs
// with `go run` (no @version: the module proxy here refuses version lists).
package tools

import (
	_ "github.com/lerenn/asyncapi-codegen/cmd/asyncapi-codegen"
	_ "gotest.tools/gotestsum"
)
