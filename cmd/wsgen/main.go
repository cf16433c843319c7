// Command wsgen generates the WebSocket dispatch layer from the AsyncAPI spec:
// wire-type constants, a handler interface with one typed method per client
// event, a strict Dispatch function, and one constructor per server event.
//
// It reads the spec through asyncapi-codegen's own parser, so the Go names it
// refers to are exactly those that `asyncapi-codegen -g types` generates.
// Adding an event to the spec adds a method to Handler, which breaks the
// build until the server implements it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"sort"
	"text/template"

	"github.com/lerenn/asyncapi-codegen/pkg/asyncapi/parser"
	asyncapiv3 "github.com/lerenn/asyncapi-codegen/pkg/asyncapi/v3"
	tmplutil "github.com/lerenn/asyncapi-codegen/pkg/utils/template"
)

type event struct {
	Name     string // Go name stem, e.g. SendMessage
	Wire     string // wire type, e.g. send_message
	Envelope string // generated envelope struct, e.g. SendMessageMessagePayload
	Inner    string // generated payload struct, e.g. SendMessagePayloadSchema
	Summary  string
	Required bool // the envelope's payload is required (server events)
}

func main() {
	in := flag.String("i", "", "AsyncAPI 3.0 spec")
	pkg := flag.String("p", "", "Go package name")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if err := run(*in, *pkg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "wsgen:", err)
		os.Exit(1)
	}
}

func run(in, pkg, out string) error {
	if in == "" || pkg == "" || out == "" {
		return errors.New("usage: wsgen -i spec.yaml -p package -o file.go")
	}
	s, err := parser.FromFile(parser.FromFileParams{Path: in})
	if err != nil {
		return fmt.Errorf("parse %s: %w", in, err)
	}
	spec, ok := s.(*asyncapiv3.Specification)
	if !ok {
		return fmt.Errorf("%s: only AsyncAPI 3.0 is supported", in)
	}
	if err := spec.Process(); err != nil {
		return fmt.Errorf("process %s: %w", in, err)
	}
	client, server, err := events(spec)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{"Package": pkg, "Client": client, "Server": server}); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return fmt.Errorf("gofmt: %w\n%s", err, buf.Bytes())
	}
	return os.WriteFile(out, src, 0o644)
}

// events walks the operations, follows operation → channel message →
// component message, and checks the spec's conventions: one message per
// operation, a string const `type`, and a `payload` that is a $ref.
func events(spec *asyncapiv3.Specification) (client, server []event, err error) {
	seen := map[string]string{}
	names := make([]string, 0, len(spec.Operations))
	for name := range spec.Operations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		op := spec.Operations[name]
		if len(op.Messages) != 1 {
			return nil, nil, fmt.Errorf("operation %s: want exactly one message, got %d", name, len(op.Messages))
		}
		m := op.Messages[0]
		for m.ReferenceTo != nil {
			m = m.ReferenceTo
		}
		if m.Payload == nil {
			return nil, nil, fmt.Errorf("operation %s: message has no payload", name)
		}
		p := m.Payload.Follow()
		typ, ok := p.Properties["type"]
		if !ok {
			return nil, nil, fmt.Errorf("operation %s: envelope has no type property", name)
		}
		wire, ok := typ.Follow().Const.(string)
		if !ok || wire == "" || typ.Follow().Type != "string" {
			return nil, nil, fmt.Errorf("operation %s: envelope type must be a string const", name)
		}
		if prev, dup := seen[wire]; dup {
			return nil, nil, fmt.Errorf("operation %s: wire type %q already used by %s", name, wire, prev)
		}
		seen[wire] = name
		inner, ok := p.Properties["payload"]
		if !ok || inner.ReferenceTo == nil {
			return nil, nil, fmt.Errorf("operation %s: envelope payload must be a $ref to a named schema", name)
		}
		ev := event{
			Name:     tmplutil.Namify(m.Title),
			Wire:     wire,
			Envelope: tmplutil.Namify(p.Name),
			Inner:    tmplutil.Namify(inner.ReferenceTo.Name),
			Summary:  m.Summary,
			Required: contains(p.Required, "payload"),
		}
		switch op.Action {
		case asyncapiv3.OperationActionIsReceive:
			if ev.Required {
				return nil, nil, fmt.Errorf("operation %s: a client payload must be optional (it defaults to {})", name)
			}
			client = append(client, ev)
		case asyncapiv3.OperationActionIsSend:
			if !ev.Required || !contains(p.Required, "timestamp") {
				return nil, nil, fmt.Errorf("operation %s: a server frame must require payload and timestamp", name)
			}
			server = append(server, ev)
		default:
			return nil, nil, fmt.Errorf("operation %s: unknown action %q", name, op.Action)
		}
	}
	byWire := func(evs []event) {
		sort.Slice(evs, func(i, j int) bool { return evs[i].Wire < evs[j].Wire })
	}
	byWire(client)
	byWire(server)
	return client, server, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

var tmpl = template.Must(template.New("dispatch").Parse(`// Code generated by cmd/wsgen from asyncapi/livechat.yaml. DO NOT EDIT.

package {{.Package}}

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Wire types of every event, as they appear in the envelope's "type".
const (
{{- range .Client}}
	// Type{{.Name}}: {{.Summary}} (client → server)
	Type{{.Name}} = "{{.Wire}}"
{{- end}}
{{- range .Server}}
	// Type{{.Name}}: {{.Summary}} (server → client)
	Type{{.Name}} = "{{.Wire}}"
{{- end}}
)

// ClientEvents lists the wire types a client may send.
var ClientEvents = []string{ {{- range .Client}}Type{{.Name}}, {{end -}} }

// ServerEvents lists the wire types the server sends.
var ServerEvents = []string{ {{- range .Server}}Type{{.Name}}, {{end -}} }

// IsClientEvent reports whether t is a client → server wire type.
func IsClientEvent(t string) bool {
	switch t {
	case {{range $i, $e := .Client}}{{if $i}}, {{end}}Type{{$e.Name}}{{end}}:
		return true
	}
	return false
}

// IsServerEvent reports whether t is a server → client wire type.
func IsServerEvent(t string) bool {
	switch t {
	case {{range $i, $e := .Server}}{{if $i}}, {{end}}Type{{$e.Name}}{{end}}:
		return true
	}
	return false
}

// Handler handles every client event, one typed method each. An absent
// payload arrives as its zero value ({}).
type Handler interface {
{{- range .Client}}
	// Handle{{.Name}} handles "{{.Wire}}": {{.Summary}}
	Handle{{.Name}}(ctx context.Context, p {{.Inner}}) error
{{- end}}
}

// ErrUnknownType is returned by Dispatch for a missing or unknown type.
var ErrUnknownType = errors.New("unknown event type")

// DecodeError is returned by Dispatch when a frame does not decode strictly
// into its envelope (unknown field, wrong JSON type, malformed JSON).
type DecodeError struct {
	Type string
	Err  error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("decode %q: %v", e.Type, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// PeekType returns the envelope's "type" without decoding the rest. The key
// is exactly "type": decoded into a struct, "Type" would do as well.
func PeekType(frame []byte) (string, error) {
	var head map[string]json.RawMessage
	if err := json.Unmarshal(frame, &head); err != nil {
		return "", &DecodeError{Err: err}
	}
	raw, ok := head["type"]
	if !ok {
		return "", fmt.Errorf("%w: missing type", ErrUnknownType)
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", &DecodeError{Err: err}
	}
	return t, nil
}

// decodeStrict decodes one JSON value into v, every key of which must be
// exactly the name of a field. encoding/json matches names regardless of
// case, so a "Type" or "Temp_Id" beside the keys the schema checked would
// set a field unchecked: the keys are compared first, against v's type.
func decodeStrict(frame []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the frame")
	}
	if err := exactKeys(tree, reflect.TypeOf(v)); err != nil {
		return err
	}
	return json.Unmarshal(frame, v)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// exactKeys returns an error for the first key in tree that is not the json
// name of a field of the struct t holds there, at any depth. Maps, and
// types that decode themselves (time.Time, json.RawMessage), take any key.
func exactKeys(tree any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch node := tree.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return nil
		}
		for key, child := range node {
			f, ok := fieldNamed(t, key)
			if !ok {
				return fmt.Errorf("json: unknown field %q", key)
			}
			if err := exactKeys(child, f.Type); err != nil {
				return err
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return nil
		}
		for _, child := range node {
			if err := exactKeys(child, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldNamed is the exported field of struct t whose json name is name.
func fieldNamed(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if f.IsExported() && tag != "-" && tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Dispatch decodes frame strictly into the envelope its type names and calls
// the matching Handler method. It returns the wire type it saw.
func Dispatch(ctx context.Context, h Handler, frame []byte) (string, error) {
	t, err := PeekType(frame)
	if err != nil {
		return "", err
	}
	switch t {
{{- range .Client}}
	case Type{{.Name}}:
		var env {{.Envelope}}
		if err := decodeStrict(frame, &env); err != nil {
			return t, &DecodeError{Type: t, Err: err}
		}
		var p {{.Inner}}
		if env.Payload != nil {
			p = *env.Payload
		}
		return t, h.Handle{{.Name}}(ctx, p)
{{- end}}
	}
	return t, fmt.Errorf("%w: %q", ErrUnknownType, t)
}
{{range .Server}}
// New{{.Name}}Event builds a "{{.Wire}}" frame: {{.Summary}}
func New{{.Name}}Event(p {{.Inner}}, ts time.Time) {{.Envelope}} {
	return {{.Envelope}}{Type: Type{{.Name}}, Payload: p, Timestamp: ts.UTC()}
}
{{end}}`))
