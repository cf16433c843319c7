package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestCreateOperator(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		storetest.Operator(t, db, "taken", chat.RoleAgent)
		tests := []struct {
			name string
			op   chat.Operator
			want error
		}{
			{"agent", chat.Operator{Username: "alice", DisplayName: "Alice", Role: chat.RoleAgent, PasswordHash: "h", Active: true}, nil},
			{"inactive admin", chat.Operator{Username: "root", Role: chat.RoleAdmin}, nil},
			{"duplicate username", chat.Operator{Username: "taken", Role: chat.RoleSupervisor}, chat.ErrConflict},
			{"bad role", chat.Operator{Username: "bob", Role: "owner"}, chat.ErrInvalid},
			{"empty username", chat.Operator{Role: chat.RoleAgent}, chat.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := tt.op
				before := time.Now().Add(-time.Second)
				err := db.CreateOperator(ctx, &o)
				wantErr(t, "CreateOperator", err, tt.want)
				if tt.want != nil {
					return
				}
				if o.ID == 0 || o.CreatedAt.Before(before) || !o.UpdatedAt.Equal(o.CreatedAt) {
					t.Errorf("CreateOperator did not fill ID/timestamps: %+v", o)
				}
				got, err := db.Operator(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got != o {
					t.Errorf("Operator(%d) = %+v, want %+v", o.ID, got, o)
				}
				got, err = db.OperatorByUsername(ctx, o.Username)
				if err != nil || got != o {
					t.Errorf("OperatorByUsername = %+v, %v", got, err)
				}
			})
		}
	})
}

func TestOperatorLookups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if ops, err := db.ListOperators(ctx); err != nil || len(ops) != 0 {
			t.Fatalf("ListOperators on empty DB = %v, %v", ops, err)
		}
		a := storetest.Operator(t, db, "zed", chat.RoleAdmin)
		b := storetest.Operator(t, db, "amy", chat.RoleAgent)
		if err := db.SetOperatorActive(ctx, b.ID, false); err != nil {
			t.Fatal(err)
		}
		ops, err := db.ListOperators(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) != 2 || ops[0].ID != a.ID || ops[1].ID != b.ID || ops[1].Active {
			t.Fatalf("ListOperators = %+v, want zed then inactive amy (by id)", ops)
		}

		_, err = db.Operator(ctx, 999)
		wantErr(t, "Operator(999)", err, chat.ErrNotFound)
		_, err = db.OperatorByUsername(ctx, "nobody")
		wantErr(t, "OperatorByUsername", err, chat.ErrNotFound)
		_, err = db.OperatorByUsername(ctx, "ZED")
		wantErr(t, "OperatorByUsername is exact", err, chat.ErrNotFound)
	})
}

func TestOperatorUpdates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		o := storetest.Operator(t, db, "carol", chat.RoleAgent)
		tests := []struct {
			name  string
			do    func(id int64) error
			want  error
			check func(chat.Operator) bool
		}{
			{"deactivate", func(id int64) error { return db.SetOperatorActive(ctx, id, false) }, nil,
				func(o chat.Operator) bool { return !o.Active }},
			{"reactivate", func(id int64) error { return db.SetOperatorActive(ctx, id, true) }, nil,
				func(o chat.Operator) bool { return o.Active }},
			{"promote", func(id int64) error { return db.SetOperatorRole(ctx, id, chat.RoleSupervisor) }, nil,
				func(o chat.Operator) bool { return o.Role == chat.RoleSupervisor }},
			{"bad role", func(id int64) error { return db.SetOperatorRole(ctx, id, "god") }, chat.ErrInvalid,
				func(o chat.Operator) bool { return o.Role == chat.RoleSupervisor }},
			{"password", func(id int64) error { return db.SetOperatorPassword(ctx, id, "new-hash") }, nil,
				func(o chat.Operator) bool { return o.PasswordHash == "new-hash" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantErr(t, tt.name, tt.do(o.ID), tt.want)
				got, err := db.Operator(ctx, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.check(got) {
					t.Errorf("after %s: %+v", tt.name, got)
				}
				if tt.want == nil && got.UpdatedAt.Before(got.CreatedAt) {
					t.Errorf("updated_at %v before created_at %v", got.UpdatedAt, got.CreatedAt)
				}
				if tt.want == nil {
					wantErr(t, tt.name+" on unknown id", tt.do(o.ID+1000), chat.ErrNotFound)
				}
			})
		}
	})
}
