package perf_test

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// op is one operation to time; it returns an error to fail the run.
type op func() error

// result is the cost of one op.
type result struct {
	ns     float64 // per op
	allocs float64 // per op
}

// run times op for about d (after one warm-up call) and counts the heap
// allocations it makes, as testing.B does.
func run(tb testing.TB, d time.Duration, o op) result {
	tb.Helper()
	if err := o(); err != nil {
		tb.Fatal(err)
	}
	n := 1
	for {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		for range n {
			if err := o(); err != nil {
				tb.Fatal(err)
			}
		}
		el := time.Since(t0)
		runtime.ReadMemStats(&after)
		if el >= d || n >= 1<<24 {
			// Whole allocations per op, as testing.B reports them: a stray
			// allocation of the runtime does not count as a fraction.
			return result{ns: float64(el.Nanoseconds()) / float64(n), allocs: float64((after.Mallocs - before.Mallocs) / uint64(n))}
		}
		// Aim past d, growing at most 10x at a time.
		next := int(float64(n) * 1.2 * float64(d) / float64(max(el, time.Microsecond)))
		n = min(max(next, n+1), 10*n)
	}
}

// pair times ours and its baseline alternately, rounds times each, and
// keeps the fastest round of each: on a shared machine the minimum is the
// figure least disturbed by other processes, and alternating exposes both
// to the same conditions.
func pair(tb testing.TB, rounds int, d time.Duration, ours, base op) (result, result) {
	tb.Helper()
	var a, b []result
	for range rounds {
		a = append(a, run(tb, d, ours))
		b = append(b, run(tb, d, base))
	}
	return fastest(a), fastest(b)
}

func fastest(rs []result) result {
	return slices.MinFunc(rs, func(x, y result) int {
		switch {
		case x.ns < y.ns:
			return -1
		case x.ns > y.ns:
			return 1
		}
		return 0
	})
}

// bench runs o as a standard benchmark (for -cpuprofile and benchstat).
func bench(b *testing.B, o op) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if err := o(); err != nil {
			b.Fatal(err)
		}
	}
}
