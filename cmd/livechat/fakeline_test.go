package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"livechat/internal/line"
)

func TestFakeline(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	env := map[string]string{"LIVECHAT_LINE_CHANNEL_TOKEN": "tok"}
	go func() {
		done <- fakeline(ctx, []string{"--addr", "127.0.0.1:0"}, getenvOf(env), io.Discard, pw)
		pw.Close()
	}()
	first, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	base, ok := strings.CutPrefix(strings.TrimSpace(first), "fake LINE serving on ")
	if !ok {
		t.Fatalf("first stderr line %q", first)
	}

	c := line.NewClient(base, base, "tok", nil)
	if err := c.Push(t.Context(), "U0123456789abcdef0123456789abcdef", []line.Message{line.Text("hi")}, "123e4567-e89b-42d3-a456-426614174000"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/_fake/requests?endpoint=push&wait=5s")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Requests []struct {
			Endpoint  string `json:"endpoint"`
			Delivered bool   `json:"delivered"`
		} `json:"requests"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || len(got.Requests) != 1 || got.Requests[0].Endpoint != "push" || !got.Requests[0].Delivered {
		t.Fatalf("recorded %+v, %v", got, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fakeline: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fakeline did not stop")
	}
}

func TestFakelineBadFlag(t *testing.T) {
	err := fakeline(t.Context(), []string{"--nope"}, func(string) string { return "" }, io.Discard, io.Discard)
	if _, ok := err.(usageError); !ok {
		t.Fatalf("err = %v, want a usage error", err)
	}
}
