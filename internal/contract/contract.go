// Package contract validates WebSocket frames against the message schemas of
// the AsyncAPI spec. The server uses it on every inbound frame; tests use its
// strict mode on every outbound frame, so the server cannot drift from the
// spec that frontend teams generate their clients from.
package contract

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"sigs.k8s.io/yaml"
)

var printer = message.NewPrinter(language.English)

const docURL = "file:///asyncapi/livechat.yaml"

// Validator holds one compiled schema per wire type.
type Validator struct {
	byType map[string]*jsonschema.Schema
}

// Option configures New.
type Option func(*options)

type options struct{ strict bool }

// Strict adds `additionalProperties: false` to every object schema that does
// not say otherwise (the spec cannot: asyncapi-codegen v0.46.3 rejects
// boolean additionalProperties). Free-form objects (x-go-type) stay open. An
// extra or misspelled field then fails validation.
func Strict() Option { return func(o *options) { o.strict = true } }

// New compiles the message payload schemas of an AsyncAPI 3 document.
func New(specYAML []byte, opts ...Option) (*Validator, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	js, err := yaml.YAMLToJSON(specYAML)
	if err != nil {
		return nil, fmt.Errorf("contract: spec to JSON: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("contract: decode spec: %w", err)
	}
	if o.strict {
		closeObjects(doc)
	}
	root, _ := doc.(map[string]any)
	components, _ := root["components"].(map[string]any)
	messages, _ := components["messages"].(map[string]any)
	if len(messages) == 0 {
		return nil, errors.New("contract: spec has no components.messages")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("contract: add spec: %w", err)
	}
	v := &Validator{byType: make(map[string]*jsonschema.Schema, len(messages))}
	for name, m := range messages {
		wire, err := wireType(m)
		if err != nil {
			return nil, fmt.Errorf("contract: message %s: %w", name, err)
		}
		sch, err := c.Compile(docURL + "#/components/messages/" + name + "/payload")
		if err != nil {
			return nil, fmt.Errorf("contract: compile message %s: %w", name, err)
		}
		v.byType[wire] = sch
	}
	return v, nil
}

// wireType reads payload.properties.type.const of a message.
func wireType(m any) (string, error) {
	mm, _ := m.(map[string]any)
	p, _ := mm["payload"].(map[string]any)
	props, _ := p["properties"].(map[string]any)
	t, _ := props["type"].(map[string]any)
	wire, ok := t["const"].(string)
	if !ok || wire == "" {
		return "", errors.New("payload.properties.type.const is not a string")
	}
	return wire, nil
}

// closeObjects walks the document and closes every object schema.
func closeObjects(v any) {
	switch n := v.(type) {
	case map[string]any:
		_, hasProps := n["properties"].(map[string]any)
		isObject := n["type"] == "object"
		_, custom := n["x-go-type"]
		_, set := n["additionalProperties"]
		if (hasProps || isObject) && !custom && !set {
			n["additionalProperties"] = false
		}
		for k, child := range n {
			if k == "examples" || k == "example" {
				continue // instances, not schemas
			}
			closeObjects(child)
		}
	case []any:
		for _, child := range n {
			closeObjects(child)
		}
	}
}

// Types lists the wire types the validator knows, sorted.
func (v *Validator) Types() []string {
	ts := make([]string, 0, len(v.byType))
	for t := range v.byType {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Known reports whether typ is a wire type of the spec.
func (v *Validator) Known(typ string) bool {
	_, ok := v.byType[typ]
	return ok
}

// ErrUnknownType is returned for a frame whose type the spec does not define.
var ErrUnknownType = errors.New("contract: unknown type")

// FieldError is a schema violation, located at Field ("payload.text"; empty
// for the frame itself).
type FieldError struct {
	Type   string
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.Type, e.Field, e.Reason)
}

// Validate checks one frame (the whole envelope) against its type's schema.
func (v *Validator) Validate(frame []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return fmt.Errorf("contract: malformed JSON: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return &FieldError{Reason: "frame is not a JSON object"}
	}
	typ, _ := obj["type"].(string)
	return v.ValidateInstance(typ, inst)
}

// ValidateInstance checks a decoded frame (as from jsonschema.UnmarshalJSON or
// json.Unmarshal with UseNumber) against the schema of typ.
func (v *Validator) ValidateInstance(typ string, inst any) error {
	sch, ok := v.byType[typ]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("contract: validate %s: %w", typ, err)
	}
	leaf := deepest(ve)
	return &FieldError{Type: typ, Field: strings.Join(leaf.InstanceLocation, "."), Reason: reason(leaf)}
}

// deepest follows the first cause down to the most specific violation.
func deepest(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

// reason is the violation's message without the location prefix.
func reason(e *jsonschema.ValidationError) string {
	if e.ErrorKind == nil {
		return "invalid"
	}
	return e.ErrorKind.LocalizedString(printer)
}

// Decode parses a frame for ValidateInstance, keeping numbers exact.
func Decode(frame []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(frame))
}
