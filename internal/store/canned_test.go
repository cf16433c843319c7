package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func ptr[T any](v T) *T { return &v }

// newCanned creates an active canned response or fails the test.
func newCanned(t *testing.T, db *store.DB, shortcut, category string, now time.Time) chat.CannedResponse {
	t.Helper()
	c := chat.CannedResponse{Shortcut: shortcut, Title: "Title " + shortcut, Content: "Content of " + shortcut, Category: category}
	if err := db.CreateCannedResponse(t.Context(), &c, now); err != nil {
		t.Fatalf("CreateCannedResponse(%q): %v", shortcut, err)
	}
	return c
}

// shortcuts lists the active rows as "category/shortcut".
func shortcuts(t *testing.T, db *store.DB, category string) []string {
	t.Helper()
	list, err := db.ListCannedResponses(t.Context(), category)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, c := range list {
		if !c.Active {
			t.Errorf("inactive row listed: %+v", c)
		}
		out = append(out, c.Category+c.Shortcut)
	}
	return out
}

func TestCreateCannedResponse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		admin := storetest.Operator(t, db, "root", chat.RoleAdmin)
		c := chat.CannedResponse{
			Shortcut:  "greeting",
			Title:     "  Greeting\n",
			Content:   "  Hello!\nHow can we help?  ",
			Category:  " general ",
			CreatedBy: &admin.ID,
		}
		if err := db.CreateCannedResponse(ctx, &c, base); err != nil {
			t.Fatal(err)
		}
		want := chat.CannedResponse{
			ID: c.ID, Shortcut: "/greeting", Title: "Greeting", Content: "Hello!\nHow can we help?", Category: "general",
			Active: true, CreatedBy: &admin.ID, CreatedAt: stored(base), UpdatedAt: stored(base),
		}
		if c.ID == 0 || !reflect.DeepEqual(c, want) {
			t.Fatalf("created %+v\nwant    %+v", c, want)
		}
		list, err := db.ListCannedResponses(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
			t.Fatalf("ListCannedResponses = %+v, want [%+v]", list, want)
		}
		eqTime(t, "CreatedAt", list[0].CreatedAt, base)

		// Without a creator, uncategorised, Thai at the length limits.
		long := chat.CannedResponse{Shortcut: "/" + strings.Repeat("x", 30), Title: strings.Repeat("ก", 100), Content: strings.Repeat("ข", 5000)}
		if err := db.CreateCannedResponse(ctx, &long, base); err != nil {
			t.Fatal(err)
		}
		if long.CreatedBy != nil || long.Category != "" || long.Content != strings.Repeat("ข", 5000) {
			t.Errorf("created %+v", long)
		}

		// The shortcut is taken in either spelling.
		for _, s := range []string{"greeting", "/greeting"} {
			dup := chat.CannedResponse{Shortcut: s, Title: "Other", Content: "Other"}
			wantErr(t, "duplicate "+s, db.CreateCannedResponse(ctx, &dup, base), chat.ErrConflict)
		}
	})
}

func TestCreateCannedResponseInvalid(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ok := chat.CannedResponse{Shortcut: "/ok", Title: "T", Content: "C"}
		tests := []struct {
			name  string
			edit  func(*chat.CannedResponse)
			field string
		}{
			{"empty shortcut", func(c *chat.CannedResponse) { c.Shortcut = "" }, "shortcut"},
			{"slash only", func(c *chat.CannedResponse) { c.Shortcut = "/" }, "shortcut"},
			{"upper case", func(c *chat.CannedResponse) { c.Shortcut = "/Hello" }, "shortcut"},
			{"space", func(c *chat.CannedResponse) { c.Shortcut = "/a b" }, "shortcut"},
			{"two slashes", func(c *chat.CannedResponse) { c.Shortcut = "//a" }, "shortcut"},
			{"31 chars", func(c *chat.CannedResponse) { c.Shortcut = strings.Repeat("a", 31) }, "shortcut"},
			{"blank title", func(c *chat.CannedResponse) { c.Title = " \t" }, "title"},
			{"long title", func(c *chat.CannedResponse) { c.Title = strings.Repeat("ก", 101) }, "title"},
			{"blank content", func(c *chat.CannedResponse) { c.Content = "\n \n" }, "content"},
			{"long content", func(c *chat.CannedResponse) { c.Content = strings.Repeat("a", 5001) }, "content"},
			{"long category", func(c *chat.CannedResponse) { c.Category = strings.Repeat("c", 51) }, "category"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := ok
				tt.edit(&c)
				err := db.CreateCannedResponse(t.Context(), &c, base)
				wantErr(t, "CreateCannedResponse", err, chat.ErrInvalid)
				if f := fieldOf(err); f != tt.field {
					t.Errorf("field %q, want %q (%v)", f, tt.field, err)
				}
			})
		}
		if got := shortcuts(t, db, ""); len(got) != 0 {
			t.Errorf("rows created: %v", got)
		}
	})
}

func fieldOf(err error) string {
	var ce *chat.Error
	if !errors.As(err, &ce) {
		return ""
	}
	return ce.Field
}

// The CHECK constraints hold on both databases even for rows written
// around the store's validation.
func TestCannedResponseChecks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		insert := func(shortcut, title, content, category string) error {
			_, err := db.Bun().NewRaw(`INSERT INTO canned_responses (shortcut, title, content, category, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, shortcut, title, content, category, base, base).Exec(t.Context())
			return err
		}
		good := []struct{ shortcut, title, content, category string }{
			{"/a", "t", "c", ""},
			{"/" + strings.Repeat("z", 30), strings.Repeat("ก", 100), strings.Repeat("ข", 5000), strings.Repeat("ค", 50)},
			{"/a-b_0", "t", "c", "x"},
		}
		for _, g := range good {
			if err := insert(g.shortcut, g.title, g.content, g.category); err != nil {
				t.Errorf("insert %q: %v", g.shortcut, err)
			}
		}
		bad := []struct{ shortcut, title, content, category string }{
			{"a", "t", "c", ""},
			{"/", "t", "c", ""},
			{"/A", "t", "c", ""},
			{"/a.b", "t", "c", ""},
			{"/a/b", "t", "c", ""},
			{"/é", "t", "c", ""},
			{"/" + strings.Repeat("z", 31), "t", "c", ""},
			{"/b", "", "c", ""},
			{"/c", strings.Repeat("ก", 101), "c", ""},
			{"/d", "t", "", ""},
			{"/e", "t", strings.Repeat("ข", 5001), ""},
			{"/f", "t", "c", strings.Repeat("ค", 51)},
		}
		for _, b := range bad {
			if err := insert(b.shortcut, b.title, b.content, b.category); err == nil {
				t.Errorf("insert %q/%d/%d/%d succeeded", b.shortcut, len(b.title), len(b.content), len(b.category))
			}
		}
	})
}

func TestListCannedResponsesOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// Bytewise: "" < "Billing" < "billing"; '-' < '0' < '_' < 'a'.
		for _, c := range [][2]string{
			{"/ab", "billing"}, {"/a_b", "billing"}, {"/a-b", "billing"}, {"/a0", "billing"},
			{"/zz", ""}, {"/aa", ""}, {"/b", "Billing"}, {"/gone", "billing"},
		} {
			newCanned(t, db, c[0], c[1], base)
		}
		list, err := db.ListCannedResponses(t.Context(), "billing")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteCannedResponse(t.Context(), list[len(list)-1].ID, base); err != nil { // /gone
			t.Fatal(err)
		}
		want := []string{"/aa", "/zz", "Billing/b", "billing/a-b", "billing/a0", "billing/a_b", "billing/ab"}
		if got := shortcuts(t, db, ""); !reflect.DeepEqual(got, want) {
			t.Errorf("all = %q\nwant  %q", got, want)
		}
		if got, want := shortcuts(t, db, "billing"), want[3:]; !reflect.DeepEqual(got, want) {
			t.Errorf("billing = %q, want %q", got, want)
		}
		if got := shortcuts(t, db, "none"); len(got) != 0 {
			t.Errorf("none = %q, want nothing", got)
		}
	})
}

func TestUpdateCannedResponse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := newCanned(t, db, "/hello", "general", base)
		other := newCanned(t, db, "/bye", "general", base)

		got, err := db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{Title: ptr(" New title ")}, at(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := c
		want.Title, want.UpdatedAt = "New title", stored(at(time.Minute))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after title: %+v\nwant        %+v", got, want)
		}

		got, err = db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{
			Shortcut: ptr("hi"), Content: ptr("Hi there"), Category: ptr(""),
		}, at(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want.Shortcut, want.Content, want.Category, want.UpdatedAt = "/hi", "Hi there", "", stored(at(2*time.Minute))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after the rest: %+v\nwant           %+v", got, want)
		}

		// Its own shortcut again is no conflict; another's is.
		if _, err := db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{Shortcut: ptr("/hi")}, at(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err = db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{Shortcut: ptr("bye")}, at(4*time.Minute))
		wantErr(t, "take /bye", err, chat.ErrConflict)
		_, err = db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{Title: ptr("")}, at(4*time.Minute))
		wantErr(t, "empty title", err, chat.ErrInvalid)

		// An empty patch returns the row untouched.
		got, err = db.UpdateCannedResponse(ctx, c.ID, chat.CannedPatch{}, at(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !got.UpdatedAt.Equal(stored(at(3*time.Minute))) || got.Shortcut != "/hi" {
			t.Errorf("empty patch: %+v", got)
		}

		_, err = db.UpdateCannedResponse(ctx, 999, chat.CannedPatch{Title: ptr("x")}, base)
		wantErr(t, "unknown id", err, chat.ErrNotFound)
		if err := db.DeleteCannedResponse(ctx, other.ID, base); err != nil {
			t.Fatal(err)
		}
		for _, p := range []chat.CannedPatch{{Title: ptr("x")}, {}} {
			_, err = db.UpdateCannedResponse(ctx, other.ID, p, base)
			wantErr(t, "deleted id", err, chat.ErrNotFound)
		}
	})
}

func TestDeleteCannedResponse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		first := newCanned(t, db, "/wait", "", base)
		if err := db.DeleteCannedResponse(ctx, first.ID, at(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := shortcuts(t, db, ""); len(got) != 0 {
			t.Errorf("listed after delete: %q", got)
		}
		wantErr(t, "delete again", db.DeleteCannedResponse(ctx, first.ID, base), chat.ErrNotFound)
		wantErr(t, "delete unknown", db.DeleteCannedResponse(ctx, 999, base), chat.ErrNotFound)

		// The shortcut is free again, and stays free after a second delete.
		second := newCanned(t, db, "wait", "", at(2*time.Minute))
		if second.ID == first.ID {
			t.Fatal("the deleted row was reused")
		}
		if err := db.DeleteCannedResponse(ctx, second.ID, base); err != nil {
			t.Fatal(err)
		}
		newCanned(t, db, "/wait", "", at(3*time.Minute))
		if got := shortcuts(t, db, ""); !reflect.DeepEqual(got, []string{"/wait"}) {
			t.Errorf("list = %q", got)
		}
		// A deleted row stays deleted: it cannot be edited.
		_, err := db.UpdateCannedResponse(ctx, first.ID, chat.CannedPatch{Shortcut: ptr("/other")}, base)
		wantErr(t, "rename deleted", err, chat.ErrNotFound)
	})
}

func TestUseCannedResponse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := newCanned(t, db, "/thanks", "", base)
		got, err := db.UseCannedResponse(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := c
		want.UsageCount = 1
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after use: %+v\nwant      %+v (updated_at unchanged)", got, want)
		}

		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				if _, err := db.UseCannedResponse(ctx, c.ID); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		list, err := db.ListCannedResponses(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].UsageCount != n+1 {
			t.Errorf("usage after %d concurrent uses: %+v", n, list)
		}

		_, err = db.UseCannedResponse(ctx, 999)
		wantErr(t, "use unknown", err, chat.ErrNotFound)
		if err := db.DeleteCannedResponse(ctx, c.ID, base); err != nil {
			t.Fatal(err)
		}
		_, err = db.UseCannedResponse(ctx, c.ID)
		wantErr(t, "use deleted", err, chat.ErrNotFound)
	})
}

// Concurrent creators of one shortcut: exactly one wins, the rest conflict.
func TestCreateCannedResponseRace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				c := chat.CannedResponse{Shortcut: "/race", Title: fmt.Sprint("T", i), Content: "C"}
				errs[i] = db.CreateCannedResponse(t.Context(), &c, base)
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, chat.ErrConflict):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Errorf("%d creators won, want 1", wins)
		}
	})
}
