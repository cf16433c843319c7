// Package logctx carries log attributes in a context: the request's or
// the socket's id, written on every line logged with that context (the
// slog ...Context methods) through the Handler wrapper.
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns ctx carrying attrs after those it already carries. It
// never changes what the parent carries.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	prev := Attrs(ctx)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, key{}, all)
}

// Attrs is what With put in ctx (nil when nothing). The slice is shared:
// do not change it.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Handler adds the context's attributes (With) to each record before the
// handler it wraps sees it. Like the record's own attributes, they land in
// the logger's open group, if any (WithGroup).
type Handler struct{ inner slog.Handler }

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler {
	if w, ok := h.(*Handler); ok {
		return w // wrapped once is enough
	}
	return &Handler{inner: h}
}

// Enabled is the wrapped handler's.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the context's attributes to r and hands it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if a := Attrs(ctx); len(a) > 0 {
		r = r.Clone() // free: it only keeps AddAttrs off an array the caller may share
		r.AddAttrs(a...)
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs wraps the wrapped handler's WithAttrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &Handler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup wraps the wrapped handler's WithGroup.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{inner: h.inner.WithGroup(name)}
}
