package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"livechat/internal/logctx"
)

// jsonLogger logs JSON lines to the returned buffer through the wrapper.
func jsonLogger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))), &buf
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestContextAttrsOnEveryLine(t *testing.T) {
	log, buf := jsonLogger(slog.LevelDebug)
	ctx := logctx.With(context.Background(), slog.String("request_id", "r1"))
	log.InfoContext(ctx, "one", "k", 1)
	log.With("component", "rest").WarnContext(ctx, "two")
	log.Info("three") // no context: nothing added
	// More attributes than a record holds inline.
	log.InfoContext(ctx, "four", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6)

	got := lines(t, buf)
	if len(got) != 4 {
		t.Fatalf("%d lines: %s", len(got), buf)
	}
	for _, i := range []int{0, 1, 3} {
		if got[i]["request_id"] != "r1" {
			t.Errorf("line %q: request_id %v", got[i]["msg"], got[i]["request_id"])
		}
	}
	if got[1]["component"] != "rest" {
		t.Errorf("WithAttrs lost: %v", got[1])
	}
	if _, ok := got[2]["request_id"]; ok {
		t.Errorf("a line without the context has a request_id: %v", got[2])
	}
	if got[3]["f"] != float64(6) {
		t.Errorf("record attrs lost: %v", got[3])
	}
}

func TestWithAppendsWithoutChangingTheParent(t *testing.T) {
	log, buf := jsonLogger(slog.LevelInfo)
	parent := logctx.With(context.Background(), slog.String("request_id", "r1"))
	a := logctx.With(parent, slog.String("conn_id", "a"))
	b := logctx.With(parent, slog.String("conn_id", "b"))
	if logctx.With(a) != a {
		t.Error("With of nothing made a new context")
	}
	log.InfoContext(parent, "parent")
	log.InfoContext(a, "a")
	log.InfoContext(b, "b")
	got := lines(t, buf)
	if _, ok := got[0]["conn_id"]; ok || got[0]["request_id"] != "r1" {
		t.Errorf("parent: %v", got[0])
	}
	if got[1]["conn_id"] != "a" || got[1]["request_id"] != "r1" {
		t.Errorf("a: %v", got[1])
	}
	if got[2]["conn_id"] != "b" || got[2]["request_id"] != "r1" {
		t.Errorf("b: %v", got[2])
	}
}

// The wrapper keeps the wrapped handler's groups and level; the context's
// attributes go where the record's own go.
func TestGroupsAndLevel(t *testing.T) {
	log, buf := jsonLogger(slog.LevelInfo)
	ctx := logctx.With(context.Background(), slog.String("request_id", "r1"))
	if log.Enabled(ctx, slog.LevelDebug) || !log.Enabled(ctx, slog.LevelInfo) {
		t.Fatal("Enabled is not the wrapped handler's")
	}
	log.DebugContext(ctx, "hidden")
	log.With("top", 1).WithGroup("g").InfoContext(ctx, "grouped", "k", "v")
	got := lines(t, buf)
	if len(got) != 1 {
		t.Fatalf("%d lines: %s", len(got), buf)
	}
	g, _ := got[0]["g"].(map[string]any)
	if got[0]["top"] != float64(1) || g["k"] != "v" || g["request_id"] != "r1" {
		t.Fatalf("grouped line: %v", got[0])
	}
	if _, ok := logctx.NewHandler(logctx.NewHandler(slog.DiscardHandler)).WithGroup("").(*logctx.Handler); !ok {
		t.Fatal("WithGroup(\"\") is not the wrapper")
	}
}
