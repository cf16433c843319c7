package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"livechat/internal/bench/hist"
	"livechat/internal/bench/procfs"
)

func fanoutResult(target string, rate, p50, p99, perCPU, cpu float64) Result {
	return Result{Target: target, Scenario: ScenarioFanout, Params: Params{Rooms: 10, Watchers: 10, Rate: rate},
		Counts: &counts{Expected: 10, Delivered: 10}, Deliver: &hist.Summary{P50: p50, P99: p99}, Ack: &hist.Summary{},
		Server: &Usage{CPUPercent: cpu}, DeliveriesPerCPU: perCPU}
}

func TestRatiosCompareTheSameLoad(t *testing.T) {
	results := []Result{
		fanoutResult("floor", 1000, 0.2, 0.5, 90000, 10),
		fanoutResult("floor+sqlite", 1000, 0.2, 1.0, 80000, 12),
		fanoutResult("livechat/sqlite", 1000, 90, 2800, 10000, 95),
		fanoutResult("livechat/sqlite", 500, 0.8, 7, 9000, 57), // no floor at 500: no ratio
		{Target: "floor", Scenario: ScenarioIdle, KBPerSocket: 20},
		{Target: "livechat/sqlite", Scenario: ScenarioIdle, KBPerSocket: 67},
		{Target: "floor", Scenario: ScenarioStep + "-max", Sustained: 4000},
		{Target: "livechat/sqlite", Scenario: ScenarioStep + "-max", Sustained: 0}, // never held: nothing to compare
	}
	got := ratios(results)
	find := func(target, versus, scenario string) *Ratio {
		for i := range got {
			if got[i].Target == target && got[i].Versus == versus && got[i].Scenario == scenario {
				return &got[i]
			}
		}
		return nil
	}
	q := find("livechat/sqlite", "floor", ScenarioFanout)
	if q == nil || q.P99 != 5600 || q.Efficiency != 10000.0/90000 || q.Rate != 1000 {
		t.Fatalf("livechat vs floor: %+v", q)
	}
	if q := find("livechat/sqlite", "floor+sqlite", ScenarioFanout); q == nil || q.P99 != 2800 {
		t.Fatalf("livechat vs floor+sqlite: %+v", q)
	}
	if q := find("floor+sqlite", "floor", ScenarioFanout); q == nil || q.P99 != 2 {
		t.Fatalf("floor+sqlite vs floor: %+v", q)
	}
	if q := find("livechat/sqlite", "floor", ScenarioIdle); q == nil || q.KB != 67.0/20 {
		t.Fatalf("idle: %+v", q)
	}
	if q := find("livechat/sqlite", "floor", ScenarioStep+"-max"); q != nil {
		t.Fatalf("a step search that never held has no ratio: %+v", q)
	}
	for _, q := range got {
		if q.Rate == 500 {
			t.Fatalf("a ratio without a floor at the same rate: %+v", q)
		}
	}
}

// The second instance's cost: two instances less one on the same
// Postgres, per scenario and rate; the goal is judged at 1,000 msgs/s only.
func TestOverheadsAreTwoInstancesLessOne(t *testing.T) {
	lossy := fanoutResult("livechat/2×redis", 500, 3, 9, 0, 0)
	lossy.Counts.Lost = 2
	results := []Result{
		fanoutResult("livechat/postgres", 1000, 2.0, 6.0, 0, 0),
		fanoutResult("livechat/2×redis", 1000, 2.8, 10.5, 0, 0),
		fanoutResult("livechat/postgres", 500, 1.5, 4.0, 0, 0),
		lossy,
		fanoutResult("livechat/sqlite", 1000, 1, 2, 0, 0),
	}
	got := overheads(results)
	if len(got) != 2 {
		t.Fatalf("overheads = %+v, want the two rates", got)
	}
	at1000, at500 := got[0], got[1]
	if at1000.Rate != 1000 || at1000.OneP50 != 2 || at1000.TwoP99 != 10.5 || at1000.Met == nil || !*at1000.Met {
		t.Fatalf("at 1,000 (+0.8 p50, +4.5 p99): %+v, want the goal met", at1000)
	}
	if at500.Met != nil || at500.Lost != 2 {
		t.Fatalf("at 500: %+v, want no verdict and 2 lost", at500)
	}
	results[1].Deliver.P99 = 11.5 // +5.5 ms
	if o := overheads(results)[0]; *o.Met {
		t.Fatalf("+5.5 ms p99 judged met: %+v", o)
	}
	var buf bytes.Buffer
	(&Report{Overheads: got}).table(&buf)
	if !strings.Contains(buf.String(), "+0.80") || !strings.Contains(buf.String(), "+4.50") {
		t.Fatalf("the table lacks the differences:\n%s", buf.String())
	}
}

func TestReportPassAndJSONIsTheLastLine(t *testing.T) {
	rep := &Report{Profile: "quick", Machine: procfs.Machine{CPUs: 2}}
	ok := fanoutResult("floor", 1000, 0.2, 0.5, 90000, 10)
	rep.finish(nil, []Result{ok}, nil)
	if !rep.Pass {
		t.Fatal("a clean run does not pass")
	}
	lossy := fanoutResult("livechat/sqlite", 1000, 1, 2, 3, 4)
	lossy.Counts = &counts{Expected: 10, Delivered: 9, Lost: 1}
	rep.finish(nil, []Result{ok, lossy}, nil)
	if rep.Pass {
		t.Fatal("a lost delivery passes")
	}
	steady := Result{Target: "livechat/sqlite", Scenario: ScenarioReconnect, Counts: &counts{}, SteadyCounts: &counts{Duplicated: 1}}
	rep.finish(nil, []Result{ok, steady}, nil)
	if rep.Pass {
		t.Fatal("a duplicate on a steady watcher passes")
	}
	var out bytes.Buffer
	if err := rep.print(&out, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	var back Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil || back.Profile != "quick" || len(back.Results) != 2 {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if !strings.Contains(out.String(), "messages:") || !strings.Contains(out.String(), "DELIVERIES LOST") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func TestMarkdownKeepsWhatIsOutsideTheMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs", "benchmarks.md")
	rep := &Report{Profile: "quick", Command: "livechat bench --profile quick", Noisy: true, LoadBefore: 3.2}
	rep.finish(nil, []Result{fanoutResult("floor", 1000, 0.2, 0.5, 90000, 10)}, nil)
	if err := writeMarkdown(path, rep); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if !strings.Contains(string(first), markBegin) || !strings.Contains(string(first), "## Notes") ||
		!strings.Contains(string(first), "This run was noisy") || !strings.Contains(string(first), "| floor | fanout |") {
		t.Fatalf("a new file:\n%s", first)
	}
	notes := strings.Replace(string(first), "## Notes\n", "## Notes\n\nBefore the outbox change: p99 2,797 ms.\n", 1)
	if err := os.WriteFile(path, []byte(notes), 0o644); err != nil {
		t.Fatal(err)
	}
	rep.Command = "livechat bench --profile full"
	if err := writeMarkdown(path, rep); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !strings.Contains(string(second), "Before the outbox change: p99 2,797 ms.") {
		t.Fatalf("the notes were lost:\n%s", second)
	}
	if strings.Contains(string(second), "--profile quick") || !strings.Contains(string(second), "--profile full") {
		t.Fatalf("the generated part was not replaced:\n%s", second)
	}
	if n := strings.Count(string(second), markBegin); n != 1 {
		t.Fatalf("%d generated blocks", n)
	}
}

func TestReplaceBlock(t *testing.T) {
	if got, err := replaceBlock("# Mine\n", "B"); err != nil || got != "# Mine\n\nB\n" {
		t.Errorf("no markers: %q %v (want the block appended)", got, err)
	}
	if _, err := replaceBlock("x "+markEnd+" y "+markBegin, "B"); err == nil {
		t.Error("end before begin accepted")
	}
	if _, err := replaceBlock("x "+markBegin+" y", "B"); err == nil {
		t.Error("a missing end accepted")
	}
	got, err := replaceBlock("a\n"+markBegin+"\nold\n"+markEnd+"\nz\n", "NEW")
	if err != nil || got != "a\nNEW\nz\n" {
		t.Errorf("replace: %q %v", got, err)
	}
}
