package perf_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Timing settings of the in-process and DynamoDB Local figures.
const (
	pairRounds = 3
	pairTime   = time.Second
)

// BenchmarkTable is `make bench`: every figure with its baseline, measured in this run, printed as one table to stdout and, when
// KST_BENCH_OUT names a file, to that file. Run it once:
//
//	go test -run '^$' -bench '^BenchmarkTable$' -benchtime 1x ./functions/internal/perf
func BenchmarkTable(b *testing.B) {
	for b.Loop() {
		rows := tableRows(b)
		var sb strings.Builder
		host, _ := os.Hostname()
		table(&sb, fmt.Sprintf("KudurruStone API Keys: make bench (%s, %s/%s, %d CPUs, %s, %s)", cpuModel(), runtime.GOOS, runtime.GOARCH,
			runtime.NumCPU(), runtime.Version(), host), rows)
		fmt.Print(sb.String())
		if out := os.Getenv("KST_BENCH_OUT"); out != "" {
			if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func tableRows(b *testing.B) []row {
	var rows []row
	step := func(what string) { fmt.Fprintf(os.Stderr, "bench: %s\n", what) }

	step("in process, embedded store")
	auth, floor := pair(b, pairRounds, pairTime, boltAuthorize(b), boltFloor(b))
	find := fastest([]result{run(b, pairTime, boltFind(b))})
	inv := fastest([]result{run(b, pairTime, boltInvoke(b))})
	rows = append(rows,
		row{name: "authorize in process, bbolt: time", ours: auth.ns, base: floor.ns, unit: "ns/op",
			baseName: "crypto/hmac + raw View/Get"},
		row{name: "authorize in process, bbolt: allocations", ours: auth.allocs, base: floor.allocs, unit: "allocs",
			baseName: "crypto/hmac + raw View/Get"},
		row{name: "  allocations beyond the store's FindCredential", ours: auth.allocs, base: find.allocs, unit: "allocs",
			baseName: "store's FindCredential alone"},
		row{name: "authorizer Invoke in process (2.0 event JSON), bbolt", ours: inv.ns, base: auth.ns, unit: "ns/op",
			baseName: "Service.Authorize alone"},
	)

	step("DynamoDB Local")
	f := newDDBFixture(b, false)
	dAuth, dGet := pair(b, pairRounds, pairTime, ddbAuthorize(b, f), ddbGetItem(b, f))
	rows = append(rows,
		row{name: "authorize against DynamoDB Local: time", ours: dAuth.ns / 1000, base: dGet.ns / 1000, unit: "us/op",
			baseName: "bare SDK GetItem, same item"},
		row{name: "authorize against DynamoDB Local: allocations", ours: dAuth.allocs, base: dGet.allocs, unit: "allocs",
			baseName: "bare SDK GetItem, same item"},
	)

	step("DynamoDB requests per authorization")
	c := countRequests(b, newDDBFixture(b, true))
	rows = append(rows,
		row{name: "DynamoDB reads per authorization (1,000 uses/min)", ours: float64(c.reads) / usesPerMinute, base: 1, unit: "",
			baseName: "one GetItem", target: 1},
		row{name: "DynamoDB writes per key per minute (1,000 uses)", ours: float64(c.writes), base: 1, unit: "",
			baseName: "one last-used write", target: 1,
			note: fmt.Sprintf("counted at the wire by a proxy in front of DynamoDB Local: %d GetItem, %d writes, %d other requests", c.reads, c.writes, c.other)},
	)

	step("Lambda runtime emulator")
	rows = append(rows, lambdaRows(b, dGet.ns/1e6)...)
	rows = append(rows, sizeRows(b)...)

	step("local server over loopback")
	rows = append(rows, serverRow(b))
	return rows
}

// cpuModel names the processor (Linux), for the table's title.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
