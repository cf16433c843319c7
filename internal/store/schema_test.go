package store_test

import (
	"cmp"
	"os"
	"slices"
	"testing"

	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

type column struct {
	Table   string `bun:"table_name"`
	Column  string `bun:"column_name"`
	NotNull bool   `bun:"not_null"`
}

// Both dialects' migrations must give the same tables, columns, nullability
// and named indexes.
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.EnvPostgresDSN) == "" {
		t.Skip(storetest.EnvPostgresDSN + " not set: skipping Postgres")
	}
	lite := storetest.Open(t, store.SQLite)
	pg := storetest.Open(t, store.Postgres)
	ctx := t.Context()

	var liteCols, pgCols []column
	if err := lite.Bun().NewRaw(`
		SELECT m.name AS table_name, p.name AS column_name, (p."notnull" OR p.pk > 0) AS not_null
		FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
		ORDER BY 1, 2`).Scan(ctx, &liteCols); err != nil {
		t.Fatal(err)
	}
	if err := pg.Bun().NewRaw(`
		SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable = 'NO' AS not_null
		FROM information_schema.columns
		WHERE table_schema = current_schema()
		ORDER BY 1, 2`).Scan(ctx, &pgCols); err != nil {
		t.Fatal(err)
	}
	byName := func(a, b column) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Column, b.Column))
	}
	slices.SortFunc(liteCols, byName)
	slices.SortFunc(pgCols, byName)
	if !slices.Equal(liteCols, pgCols) {
		t.Errorf("columns differ:\nsqlite:   %v\npostgres: %v", liteCols, pgCols)
	}

	var liteIdx, pgIdx []string
	if err := lite.Bun().NewRaw(`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%\_idx' ESCAPE '\' ORDER BY name`).Scan(ctx, &liteIdx); err != nil {
		t.Fatal(err)
	}
	if err := pg.Bun().NewRaw(`SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE '%\_idx' ESCAPE '\' ORDER BY indexname`).Scan(ctx, &pgIdx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(liteIdx)
	slices.Sort(pgIdx)
	if len(liteIdx) == 0 || !slices.Equal(liteIdx, pgIdx) {
		t.Errorf("indexes differ:\nsqlite:   %v\npostgres: %v", liteIdx, pgIdx)
	}
}
