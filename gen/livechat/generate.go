// Package livechat holds the Go code generated from asyncapi/livechat.yaml:
// payload types (asyncapi-codegen -g types) and the dispatch layer (cmd/wsgen).
// Nothing here is written by hand except the go:generate lines below.
package livechat

//go:generate go run github.com/lerenn/asyncapi-codegen/cmd/asyncapi-codegen -i ../../asyncapi/livechat.yaml -p livechat -g types -o types.gen.go
//go:generate go run ../../cmd/wsgen -i ../../asyncapi/livechat.yaml -p livechat -o dispatch.gen.go
